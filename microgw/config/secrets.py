"""The vendor's ``{encoded}<base64>`` secrets, and masking of secrets for display."""

from __future__ import annotations

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
    """Decode every ``{encoded}`` string in place; returns the paths that could not be decoded."""
    path = path or []
    problems: list[tuple[list, str]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in list(items):
        if isinstance(value, str) and value.startswith(ENCODED):
            try:
                node[key] = decode_encoded(value)
            except ValueError as exc:
                problems.append(([*path, key], str(exc)))
        elif isinstance(value, (dict, list)):
            problems.extend(decode_encoded_values(value, [*path, key]))
    return problems


def mask_secrets(node: Any) -> Any:
    """A copy with every secret-named value replaced by a mask, for the settings endpoint and logs."""
    if isinstance(node, dict):
        secret_values = node.get("key") in _SECRET_IDENTIFIERS
        return {
            k: (
                MASK
                if (isinstance(k, str) and k.lower() in SECRET_NAMES or (secret_values and k in ("value", "namedValues"))) and v is not None
                else mask_secrets(v)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [mask_secrets(v) for v in node]
    return node
