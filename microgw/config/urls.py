"""URL text in the settings: ``endpoint_rewrites`` (repointing production hosts) and the parent's URL.

Text-to-URL work only, so the loader can check both without importing the sync room that uses them.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from yarl import URL

_ORIGIN = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)(.*)$", re.DOTALL)


def _fold_origin(url: str) -> str:
    """Scheme and host compare case-insensitively; the path does not."""
    match = _ORIGIN.match(url)
    return match.group(1).lower() + match.group(2) if match else url


def _target(value: Any) -> str:
    if isinstance(value, Mapping) and isinstance(value.get("value"), str):
        return value["value"]
    if isinstance(value, str):
        return value
    raise ValueError("an alias maps to a URL text or to {value: URL}")


def repoint(apis: Iterable[Mapping[str, Any]], aliases: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Replace the start of each endpoint: ``{"https://prod.example.com": "http://127.0.0.1:8080"}``.

    A key is an origin (``scheme://host[:port]``) or any longer URL prefix; it matches only at a
    boundary (end, ``/``, ``?``, ``#`` or ``$``), so ``https://prod.example.com`` does not match
    ``https://prod.example.com.evil.net`` nor ``:8443``. The longest matching key wins; scheme and
    host compare case-insensitively. Values are URLs or the config's simple aliases
    (``{value: URL}``). Returns new dicts; the inputs are not changed.
    """
    table = sorted(((k, _target(v)) for k, v in aliases.items() if k), key=lambda kv: len(kv[0]), reverse=True)
    out = []
    for api in apis:
        api = dict(api)
        endpoint = api.get("endpoint")
        if isinstance(endpoint, str):
            for key, target in table:
                rest = endpoint[len(key):]
                if _fold_origin(endpoint[: len(key)]) != _fold_origin(key):
                    continue
                if rest and not key.endswith("/") and rest[0] not in "/?#$":
                    continue
                if target.endswith("/") and rest.startswith("/"):
                    rest = rest[1:]
                api["endpoint"] = target + rest
                break
        out.append(api)
    return out


def parent_base(url: str) -> URL:
    """``host:port``, ``http://host:5555`` and ``http://host:5555/rest/apigateway`` -> the server root.

    Raises ValueError for anything that is not an http(s) URL with a host.
    """
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parsed = URL(text)
    except ValueError:
        raise ValueError(f"not a parent gateway URL: {url!r}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"not a parent gateway URL: {url!r}")
    path = parsed.path.rstrip("/")
    for suffix in ("/rest/apigateway", "/rest"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return parsed.with_path(path or "/").with_query(None).with_fragment(None)
