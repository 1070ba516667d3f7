"""The vendor's ``{encoded}<base64>`` secrets, and masking of secrets for display."""

from __future__ import annotations

import re
from typing import Any

from microgw.jose.b64 import B64Error, b64_std_decode

ENCODED = "{encoded}"
MASK = "********"
SECRET_NAMES = frozenset(
    {"password", "secret", "clientsecret", "client_secret", "key_password", "passphrase", "api_keys", "apiaccesskey", "cachedsecret", "vendor_secrets"}
)
_SECRET_IDENTIFIERS = frozenset({"apiKey", "token"})  # vendor identifiers whose values are API keys


def decode_encoded(value: str) -> str:
    """``{encoded}bWFuYWdl`` -> ``manage``; raises ValueError when the base64 or UTF-8 is bad."""
    try:
        return b64_std_decode(value[len(ENCODED):]).decode("utf-8")
    except (B64Error, UnicodeDecodeError):
        raise ValueError("an {encoded} value must be base64 of UTF-8 text") from None


def decode_encoded_values(node: Any, path: list | None = None) -> list[tuple[list, str]]:
    """Decode every ``{encoded}`` string in place; returns the paths that could not be decoded.

    Every setting of every file passes here (10,000 applications: 30,000 mappings and lists), so
    the walk keeps one path and copies it only for a problem."""
    problems: list[tuple[list, str]] = []
    _decode(node, list(path or []), problems)
    return problems


def _decode(node: Any, path: list, problems: list) -> None:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:  # values of existing keys change, never the size
        if isinstance(value, str):
            if value.startswith(ENCODED):
                try:
                    node[key] = decode_encoded(value)
                except ValueError as exc:
                    problems.append(([*path, key], str(exc)))
        elif isinstance(value, (dict, list)):
            path.append(key)
            _decode(value, path, problems)
            path.pop()


# A key names a secret when it speaks of a password, secret, token, key or credential ...
_SECRET_WORD = re.compile(r"pass(word|wd|phrase)?|pwd|secret|token|credential|private|api[-_.]?key|[-_.]key$|^key[-_.]|signature|^authorization$|^cookie$")
# ... unless it names what describes a secret rather than the secret itself.
_DESCRIBES = re.compile(r"(header|alias|location|file|path|type|alg|algorithm|length|entries|size|uri|url|endpoint|name|id|ids|timeout|ttl|format|kind|mode|rules?|store|stores|expiry|lifetime|count)$")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@")
_SECRET_QUERY = re.compile(r"(?i)([?&;][^=&#\s]*(?:pass|secret|token|key|sig|auth|credential)[^=&#\s]*=)[^&#\s]*")


def secret_key(name: object) -> bool:
    """True when a settings key, by its meaning, holds a secret (``db_password``, ``clientSecret``,
    ``x-api-key``, ``refresh_token``, ``signingKey``), not only for the exact names microgw knows."""
    if not isinstance(name, str):
        return False
    lower = name.lower()
    if lower in SECRET_NAMES:
        return True
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()  # camelCase -> snake_case
    return bool(_SECRET_WORD.search(spaced)) and not _DESCRIBES.search(spaced)


def mask_text(value: str) -> str:
    """User info in any URL (``https://u:p@host``) and secret-named query parameters masked."""
    if "@" in value:
        value = _USERINFO.sub(lambda m: m.group(1) + MASK + "@", value)
    if "=" in value:
        value = _SECRET_QUERY.sub(lambda m: m.group(1) + MASK, value)
    return value


def mask_secrets(node: Any) -> Any:
    """A copy for display (admin views, logs): values of keys that name a secret masked, wherever they
    are (``extended_settings`` and vendor settings included), the values of vendor identifiers that
    are keys, and user info or secret query parameters in any URL."""
    if isinstance(node, dict):
        secret_values = node.get("key") in _SECRET_IDENTIFIERS
        out = {}
        for k, v in node.items():
            if v is not None and (secret_values and k in ("value", "namedValues") or secret_key(k) and not isinstance(v, (dict, bool))):
                out[k] = MASK if not isinstance(v, list) or any(isinstance(x, (dict, list)) for x in v) else [MASK for _ in v]
            else:
                out[k] = mask_secrets(v)
        return out
    if isinstance(node, (list, tuple)):
        return [mask_secrets(v) for v in node]
    if isinstance(node, str):
        return mask_text(node)
    return node
