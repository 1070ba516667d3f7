"""Parsing of the credentials a client may present (Basic, Bearer). No checking happens here."""

from __future__ import annotations

import base64
import binascii

from microgw.errors import invalid_credentials


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """``Basic dXNlcjpwdw==`` -> ("user", "pw"); None when absent or not Basic; ValueError when malformed."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("malformed Basic credentials") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise ValueError("malformed Basic credentials")
    return user, password


def presented_basic(header: str | None) -> tuple[str, str] | None:
    """:func:`parse_basic` as the endpoints and policies answer it: a malformed header is a 401."""
    try:
        return parse_basic(header)
    except ValueError:
        raise invalid_credentials("Malformed Basic credentials") from None


def parse_bearer(header: str | None) -> str | None:
    """``Bearer <token>`` -> token (scheme case-insensitive, RFC 6750 §2.1); None otherwise."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = value.strip()
    return token or None
