"""The identity provider / JWKS server of the tests (one kind): a JWKS on loopback whose answers a test
controls, and a third-party IdP with its own keys and PyJWT minting built on it."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import jwt as pyjwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwcrypto import jwk

from support.loopback import LoopbackServer


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(private_key, kid: str, alg: str) -> dict:
    pem = private_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    key = jwk.JWK.from_pem(pem)
    return {**json.loads(key.export_public()), "kid": kid, "alg": alg, "use": "sig"}


class JwksServer(LoopbackServer):
    """A JWKS endpoint on loopback whose answers a test changes while it runs: ``document`` (a dict, or
    bytes served as they are), ``status``, ``delay``, ``redirect_to``, ``chunked``; ``hits`` counts
    requests. Served at ``/jwks.json`` (``url``), ``/jwks`` and ``/other.json``."""

    handler_cancellation = True  # a delayed answer stops when the client gives up, so stop() is quick
    shutdown_timeout = 0.5

    def __init__(self, document=None, *, status: int = 200, delay: float = 0.0, redirect_to: str | None = None,
                 chunked: bool = False, ssl_context=None) -> None:
        self.document = {"keys": []} if document is None else document
        self.status = status
        self.delay = delay
        self.redirect_to = redirect_to
        self.chunked = chunked
        self.ssl_context = ssl_context
        self.hits = 0

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}/jwks.json"

    def current_document(self):
        return self.document

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        if self.delay:
            await asyncio.sleep(self.delay)  # simulates a slow identity provider
        if self.redirect_to:
            raise web.HTTPFound(self.redirect_to)
        if self.status != 200:
            return web.Response(status=self.status, text="unavailable")
        document = self.current_document()
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        if self.chunked:  # no Content-Length: the client must enforce its limit while reading
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for i in range(0, len(body), 4096):
                await resp.write(body[i : i + 4096])
            await resp.write_eof()
            return resp
        return web.Response(body=body, content_type="application/json")

    def build_app(self) -> web.Application:
        app = web.Application()
        for path in ("/jwks", "/jwks.json", "/other.json"):
            app.router.add_get(path, self._handle)
        return app


class IdentityProvider(JwksServer):
    """A JwksServer that holds signing keys by kid, serves their public JWKS and mints tokens with PyJWT.

    ``fetches`` counts JWKS requests; ``available = False`` answers 503 until set back."""

    def __init__(self, issuer: str = "https://idp.test") -> None:
        super().__init__()
        self.issuer = issuer
        self.keys: dict[str, tuple[object, str]] = {}  # kid -> (private key, alg)

    @property
    def fetches(self) -> int:
        return self.hits

    @property
    def available(self) -> bool:
        return self.status == 200

    @available.setter
    def available(self, value: bool) -> None:
        self.status = 200 if value else 503

    def add_key(self, kid: str, alg: str = "RS256", key=None):
        key = key or (ec_key() if alg.startswith("ES") else rsa_key())
        self.keys[kid] = (key, alg)
        return key

    def jwks(self) -> dict:
        return {"keys": [public_jwk(key, kid, alg) for kid, (key, alg) in self.keys.items()]}

    def current_document(self):
        return self.jwks()

    @property
    def jwks_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks"

    def token(self, kid: str | None = None, *, lifetime: int = 300, headers: dict | None = None, **claims) -> str:
        kid = kid or next(iter(self.keys))
        key, alg = self.keys[kid]
        now = int(time.time())
        payload = {"iss": self.issuer, "sub": "user-1", "iat": now, "exp": now + lifetime, "jti": uuid.uuid4().hex}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return pyjwt.encode(payload, key, algorithm=alg, headers={"kid": kid, **(headers or {})})


def auth_server(server_id: str, issuer: str, jwks_uri: str | None = None, **local) -> dict:
    """An auth server item in the vendor's form."""
    return {
        "id": server_id,
        "name": server_id,
        "type": "authServerAlias",
        "localIntrospectionConfig": {"issuer": issuer, "jwksuri": jwks_uri, **local},
    }
