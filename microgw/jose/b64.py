"""Strict base64url without padding (RFC 7515 §2), shared by signing and verification."""

import base64
import binascii
import re

_B64URL = re.compile(rb"^[A-Za-z0-9_-]*$")


class B64Error(ValueError):
    """The text is not canonical unpadded base64url."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    """Decode unpadded base64url; padding, other alphabets and impossible lengths are refused."""
    raw = text.encode("ascii", "strict") if isinstance(text, str) else text
    if len(raw) % 4 == 1 or not _B64URL.match(raw):
        raise B64Error("not base64url")
    try:
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - regex already guards
        raise B64Error("not base64url") from exc


def b64_std_decode(text: str) -> bytes:
    """Decode standard base64 (the vendor's secrets and `{encoded}` values), tolerant of missing padding."""
    s = text.strip()
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise B64Error("not base64") from exc
