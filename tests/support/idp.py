"""A third-party identity provider for tests: its own keys, a JWKS served on loopback, PyJWT minting."""

from __future__ import annotations

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


class IdentityProvider(LoopbackServer):
    """Holds signing keys by kid, serves ``/jwks`` (counting fetches), and mints tokens with PyJWT."""

    def __init__(self, issuer: str = "https://idp.test") -> None:
        self.issuer = issuer
        self.keys: dict[str, tuple[object, str]] = {}  # kid -> (private key, alg)
        self.fetches = 0
        self.available = True

    def add_key(self, kid: str, alg: str = "RS256", key=None):
        key = key or (ec_key() if alg.startswith("ES") else rsa_key())
        self.keys[kid] = (key, alg)
        return key

    def jwks(self) -> dict:
        return {"keys": [public_jwk(key, kid, alg) for kid, (key, alg) in self.keys.items()]}

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

    async def _serve(self, request: web.Request) -> web.Response:
        self.fetches += 1
        if not self.available:
            return web.Response(status=503)
        return web.json_response(self.jwks())

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/jwks", self._serve)
        return app


def auth_server(server_id: str, issuer: str, jwks_uri: str | None = None, **local) -> dict:
    """An auth server item in the vendor's form."""
    return {
        "id": server_id,
        "name": server_id,
        "type": "authServerAlias",
        "localIntrospectionConfig": {"issuer": issuer, "jwksuri": jwks_uri, **local},
    }
