"""Bodies for the policies that read or change them: the request body read once (bounded), answers
taken whole, and what kind of text a content type names.

Reading a body is the exception on microgw's request path (bodies stream by default), so only
exchange stages do it — after ``Expect: 100-continue`` was answered — and always bounded by the
server's ``max_body_size``: 413 for a request over it, 502 for an answer (the forwarder's bound).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from microgw.context import RequestContext
from microgw.errors import GatewayError

if TYPE_CHECKING:
    from aiohttp import web

JSON, XML, TEXT, OTHER = "json", "xml", "text", "other"


def kind_of(content_type: str | None) -> str:
    """``json`` for application/json, */*+json (and the vendor's application/json/badgerfish);
    ``xml`` for application/xml, text/xml, */*+xml; ``text`` for other text/*; else ``other``."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json") or media.startswith("application/json/"):
        return JSON
    if media in ("application/xml", "text/xml") or media.endswith("+xml"):
        return XML
    if media.startswith("text/"):
        return TEXT
    return OTHER


async def request_body(ctx: RequestContext, limit: int) -> bytes:
    """The request body, read once and kept in ``ctx.body`` (what the forward then sends)."""
    if ctx.body is not None:
        return ctx.body
    request = ctx.request
    if request.content_length is not None and request.content_length > limit:
        raise GatewayError(413, "body_too_large", f"The request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    if request.body_exists:
        while chunk := await request.content.readany():
            size += len(chunk)
            if size > limit:
                raise GatewayError(413, "body_too_large", f"The request body is larger than {limit} bytes")
            chunks.append(chunk)
    ctx.body = b"".join(chunks)
    return ctx.body


def answer_body(response: "web.StreamResponse") -> bytes | None:
    """The body of an answer taken whole (``ctx.buffer_answer``), decoded from gzip/deflate (the
    encoding header is then dropped); None for an answer without one (HEAD, a stream)."""
    body = getattr(response, "body", None)
    if not isinstance(body, (bytes, bytearray)):
        return None
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return bytes(body)
    if encoding in ("gzip", "x-gzip", "deflate"):
        try:
            decoded = zlib.decompress(body, 47 if encoding != "deflate" else 15)
        except zlib.error:
            try:
                decoded = zlib.decompress(body, -15)
            except zlib.error:
                raise GatewayError(502, "bad_answer", "The native service's answer could not be decoded") from None
        del response.headers["Content-Encoding"]
        return decoded
    raise GatewayError(502, "bad_answer", f"The native service's answer is encoded with {encoding[:20]}, which a policy cannot read")


def replace_answer_body(response: "web.StreamResponse", body: bytes) -> None:
    """Put a changed body on an unsent answer; validators of the old body go."""
    response.body = body  # type: ignore[attr-defined]
    for name in ("ETag", "Content-MD5", "Digest"):
        response.headers.popall(name, None)
