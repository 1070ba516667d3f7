"""Find the API of ``/gateway/<apiName>/<apiVersion>/<resource>`` and the native URL to call.

Paths are handled in their raw, percent-encoded form so that the native service receives exactly
the resource the client sent; dot segments are refused so a resource can never climb out of the
endpoint's base path.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from microgw.config.model import ApiConfig
from microgw.errors import bad_request, not_found

if TYPE_CHECKING:
    import ssl as _ssl

    from aiohttp import ClientTimeout

GATEWAY_PREFIX = "/gateway/"
RESOURCE_PLACEHOLDER = "${sys:resource_path}"


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    """A native endpoint split around the resource: ``prefix + resource + suffix``."""

    prefix: str
    suffix: str
    templated: bool

    query: str = ""  # the endpoint's own query string, kept after the path
    fixed: bool = False  # the resource is not part of the URL (the endpoint is called as written)
    tls: Any = None  # for an endpoint a policy chose: its TLS choice (ssl context, False, True); None: the API's
    origin: str | None = None  # set when the placeholder stands before the path: the origin every URL must keep

    @classmethod
    def parse(cls, endpoint: str, *, append_resource: bool = True) -> "UpstreamTarget":
        """``append_resource=False``: an endpoint without the placeholder is called as written, as
        the vendor does with a routing ``endpointUri`` that has no ``${sys:resource_path}``."""
        endpoint, _, query = endpoint.partition("?")
        if RESOURCE_PLACEHOLDER not in endpoint and not append_resource:
            return cls(endpoint, "", True, query, fixed=True)
        if RESOURCE_PLACEHOLDER in endpoint:
            prefix, _, suffix = endpoint.partition(RESOURCE_PLACEHOLDER)
            _, sep, after_scheme = prefix.partition("://")
            # the placeholder in the scheme or authority (no '/' after '://' yet): a resource such as
            # '@evil', '.evil.com' or '1' could change the host or port; every URL is checked then
            guarded = not sep or "/" not in after_scheme
            return cls(prefix, suffix, True, query, origin=url_origin(prefix + suffix) if guarded else None)
        return cls(endpoint.rstrip("/"), "", False, query)

    def url(self, resource: str | None, query: str) -> str:
        """``resource`` None means the client's path ended at the version (no slash after it)."""
        if self.fixed:
            url = self.prefix
        elif self.templated:
            url = self.prefix + (resource or "") + self.suffix
            if self.origin is not None and url_origin(url) != self.origin:
                raise bad_request("The resource path may not change the native service's address", "invalid_path")
        else:
            url = self.prefix if resource is None else self.prefix + "/" + resource
        own = self.query
        if own:
            return f"{url}?{own}&{query}" if query else f"{url}?{own}"
        return f"{url}?{query}" if query else url


def url_origin(url: str) -> str:
    """(scheme, user info, host, port) of ``url`` as one text, the way the HTTP client will read it;
    '?' for what it could not read. The path, query and fragment do not count."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "?"
    authority = re.split(r"[/?]", rest, maxsplit=1)[0]  # where microgw.http_client ends the authority
    return scheme.lower() + "://" + authority.lower()


@dataclass(frozen=True, slots=True)
class Route:
    """Everything the request path needs about one API, built once per runtime."""

    api: ApiConfig
    stages: tuple[Any, ...]  # policies' Stage objects; the Stage protocol sits above routing
    upstream: UpstreamTarget | None
    ssl: _ssl.SSLContext | bool = True  # False: not verified; True: default verification
    timeout: ClientTimeout | None = None  # for the native service, built once
    exchanges: tuple[Any, ...] = ()  # policies' Exchange objects around the forward, outermost first
    scoped: Any = None  # policies.scopes.Scoped: the pipelines of the API's scopes; None: no scopes


def split_gateway_path(path: str, query: str = "") -> tuple[str, str, str | None, str]:
    """(``/gateway/a/1.0/x/y``, ``q=1``) -> ("a", "1.0", "x/y", "q=1"); names are percent-decoded.

    The resource is None when nothing, not even a slash, follows the version, so that a base
    endpoint is called exactly as ``/gateway/a/1.0`` or ``/gateway/a/1.0/`` asked. A resource that
    could climb out of the endpoint's path is refused: after decoding, no segment (split at ``/``
    or a backslash, ignoring ``;params``) may be ``.`` or ``..`` — so ``..%2f``, ``%2e%2e``, ``..%5c`` and
    ``..;`` are caught whatever the native service decodes.
    """
    rest = path[len(GATEWAY_PREFIX):]
    name, sep, rest = rest.partition("/")
    version, slash, resource_text = rest.partition("/")
    if not name or not sep or not version:
        raise not_found("The path must be /gateway/<apiName>/<apiVersion>/<resource>")
    resource = resource_text if slash else None
    if ("." in resource_text or "%" in resource_text or not resource_text.isascii()) and _climbs(resource_text):
        raise bad_request("The resource path may not contain '.' or '..' segments", "invalid_path")
    return (unquote(name) if "%" in name else name), (unquote(version) if "%" in version else version), resource, query


_SEPARATORS = re.compile(r"[/\\]")
_U_ESCAPE = re.compile(r"%[uU]([0-9a-fA-F]{4})")  # IIS-style %u002e
_PERCENT = re.compile(rb"%([0-9a-fA-F]{2})")
# lead bytes of overlong UTF-8 forms (C0 AE is '.', E0 80 AE too): never valid, decoded by some servers
_OVERLONG = re.compile(rb"[\xc0\xc1]|\xe0[\x80-\x9f]|\xf0[\x80-\x8f]")
DECODE_ROUNDS = 4


def _climbs(resource: str) -> bool:
    """Could any server, decoding as much as it likes, read a '.' or '..' segment here?

    Percent-decoding is repeated (up to DECODE_ROUNDS: double and triple encoding), ``%uXXXX`` is
    read, overlong UTF-8 is refused outright, compatibility forms are folded (a full-width dot U+FF0E
    or one-dot leader is a '.'), and a segment is compared after dropping ``;params``, spaces and NULs
    (``..%00``, ``..%20``)."""
    raw = resource.encode("utf-8", "surrogateescape")
    for _ in range(DECODE_ROUNDS):
        if b"%u" in raw or b"%U" in raw:
            text = _U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), raw.decode("utf-8", "surrogateescape"))
            raw = text.encode("utf-8", "surrogatepass")
        decoded = _PERCENT.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
        if _OVERLONG.search(decoded):
            return True
        if decoded == raw:
            break
        raw = decoded
    text = unicodedata.normalize("NFKC", raw.decode("utf-8", "replace"))
    for part in _SEPARATORS.split(text):
        segment = part.split(";", 1)[0].strip(" \t\r\n\x00\x0b\x0c")
        if segment in (".", ".."):
            return True
    return False
