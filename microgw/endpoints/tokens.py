"""The gateway as a JWT issuer: the vendor's two token endpoints and the JWKS of the signing keys.

* ``GET  /rest/pub/apigateway/jwt/getJsonWebToken[?app_id=ID]`` — a gateway user (HTTP Basic) gets
  ``{"jwt": ...}`` with ``sub`` = the user; ``app_id`` (a known, not suspended application) is added
  as claim and audience.
* ``POST /gateway/security/getJsonWebToken`` — the calling application, identified by its API key,
  Basic user or another valid JWT, gets ``{"expiresIn", "tokenType": "Bearer", "accessToken"}`` with
  ``sub`` = its id and the body's ``claimsSet`` at the top level of the payload.
* ``GET  /rest/pub/apigateway/jwt/certs`` — ``{"keys": [...]}``, every published (non-retired) key.

Decisions (the vendor documents none of them):

* No issuer configured: 404 ``jwt_configuration_empty`` ("JWT configuration empty") on all three —
  the resource does not exist here; 503 would invite retries and take the node out of load balancers.
* Both token endpoints refuse plain HTTP with 403 ``https_required`` unless ``issuer.https_only`` is
  false (default from ``extended_settings.pg_JWT_isHTTPS``): credentials and tokens travel in them.
  The check runs before any credential is looked at. ``X-Forwarded-Proto`` is not trusted (anyone
  can send it); behind a TLS-terminating proxy set ``https_only: false``. The JWKS is public and is
  served over both protocols, so verifiers may fetch it over HTTP.
* POST: nothing presented -> 401 with a challenge; a presented credential that is wrong (unknown API
  key, wrong password, invalid token) -> 401; valid credentials matching zero or several
  applications (union over everything presented) -> 400 "Unable to uniquely identify application";
  a suspended application -> 403. Body: empty means no custom claims; otherwise
  ``application/json`` (415 else), at most 64 KiB (413), a JSON object (400).
* Signing (~2.5 ms for RSA-3072) runs in a worker thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import web

from microgw.credentials import parse_bearer, presented_basic
from microgw.errors import GatewayError, bad_request, forbidden, invalid_credentials, missing_credentials
from microgw.keys.publish import jwks_document
from microgw.policies.app_signed import applications_of_token
from microgw.responses import error_response, json_response

if TYPE_CHECKING:
    from microgw.runtime import Services
    from microgw.host import GatewayHost

USER_TOKEN_PATH = "/rest/pub/apigateway/jwt/getJsonWebToken"
APP_TOKEN_PATH = "/gateway/security/getJsonWebToken"
CERTS_PATH = "/rest/pub/apigateway/jwt/certs"

REALM = "microgw"
MAX_BODY = 64 * 1024
JWKS_MAX_AGE = 300
UNIQUE_APP = "Unable to uniquely identify application"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def jwt_configuration_empty() -> GatewayError:
    return GatewayError(404, "jwt_configuration_empty", "JWT configuration empty: this gateway has no issuer configured")


def _issuing_services(gateway: "GatewayHost", request: web.Request) -> "Services":
    """The current services, when this gateway issues tokens and the request may ask for one."""
    services = gateway.runtime.services
    settings = services.settings
    if services.issuer is None or settings.issuer is None:
        raise jwt_configuration_empty()
    if settings.issuer.https_only and not request.secure:
        raise forbidden("The token endpoint requires HTTPS", "https_required")
    return services


# --------------------------------------------------------------------------- GET: user tokens


async def user_token(gateway: "GatewayHost", request: web.Request) -> web.Response:
    services = _issuing_services(gateway, request)
    user = await _basic_user(services, request)
    app_ids = request.query.getall("app_id", [])
    if len(app_ids) > 1:
        raise bad_request("Give app_id at most once")
    app_id = app_ids[0] if app_ids else None
    if app_id is not None:
        index = _application_index(services)
        found = index.by_id(app_id) if index is not None and app_id else None
        if found is None:
            raise bad_request("app_id does not name a known application", "unknown_application")
        if found.suspended:
            raise forbidden("The application is suspended", "application_suspended")
    token = await asyncio.to_thread(services.issuer.issue_for_user, user, app_id)  # type: ignore[union-attr]
    return json_response({"jwt": token}, headers=NO_STORE)


async def _basic_user(services: "Services", request: web.Request) -> str:
    credentials = presented_basic(request.headers.get("Authorization"))
    if credentials is None:
        raise missing_credentials("A gateway user name and password are required (HTTP Basic)", "Basic")
    user, password = credentials
    if not await services.users.verify(user, password, client=request.remote or ""):
        raise invalid_credentials("Invalid user name or password")
    return user


def _application_index(services: "Services") -> Any:
    """The application index; ``None`` (no applications) on runtimes built without one."""
    return getattr(services, "applications", None)


# --------------------------------------------------------------------------- POST: application tokens


async def application_token(gateway: "GatewayHost", request: web.Request) -> web.Response:
    services = _issuing_services(gateway, request)
    _check_body_headers(request)
    app = await identify_application(services, request)
    claims_set = _claims_set(await _read_body(request))
    token, expires_in = await asyncio.to_thread(services.issuer.issue_for_application, app.id, claims_set)  # type: ignore[union-attr]
    return json_response({"expiresIn": expires_in, "tokenType": "Bearer", "accessToken": token}, headers=NO_STORE)


async def identify_application(services: "Services", request: web.Request) -> Any:
    """The one application all presented identifiers point to (see the module's decisions)."""
    index = _application_index(services)
    found: dict[str, Any] = {}
    presented = False
    key = request.headers.get(services.settings.api_key_header)
    if key is not None:
        presented = True
        app = index.by_api_key(key) if index is not None else None
        if app is None:
            raise invalid_credentials("Unknown API key", "APIKey")
        found[app.id] = app
    authorization = request.headers.get("Authorization")
    if authorization:
        basic = presented_basic(authorization)
        token = parse_bearer(authorization)
        if basic is not None:
            presented = True
            user, password = basic
            if not await services.users.verify(user, password, client=request.remote or ""):
                raise invalid_credentials("Invalid user name or password")
            for app in _as_tuple(index.by_basic_user(user)) if index is not None else ():
                found[app.id] = app
        elif token is not None:
            presented = True
            for app in await _apps_of_token(services, index, token):
                found[app.id] = app
    if not presented:
        raise missing_credentials("Credentials that identify an application are required (API key, Basic or Bearer)", "Basic")
    if len(found) != 1:
        raise bad_request(UNIQUE_APP, "application_not_identified")
    app = next(iter(found.values()))
    if app.suspended:
        raise forbidden("The application is suspended", "application_suspended")
    return app


async def _apps_of_token(services: "Services", index: Any, token: str) -> tuple:
    """Applications whose claim sets the token's claims match, or whose HMAC secret verified it."""
    if services.validator is None:
        raise GatewayError(401, "invalid_token", "No auth server is configured to validate tokens", challenge="Bearer", bearer_error="invalid_token")
    verified = await services.validator.validate(token)  # TokenError (401) when not valid
    return applications_of_token(verified, index)


def _as_tuple(found: Any) -> tuple:
    """Lookups answer one application, None or a tuple; make it a tuple."""
    if found is None:
        return ()
    return tuple(found) if isinstance(found, (tuple, list)) else (found,)


def _check_body_headers(request: web.Request) -> None:
    """Refuse what the headers already show to be wrong, before any credential check or read."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise GatewayError(413, "body_too_large", f"The request body may be at most {MAX_BODY} bytes")
    if request.body_exists and request.content_length != 0 and not _is_json(request.content_type):
        raise GatewayError(415, "unsupported_media_type", "The request body must be application/json")


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (content_type.startswith("application/") and content_type.endswith("+json"))


async def _read_body(request: web.Request) -> bytes:
    if not request.body_exists:
        return b""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > MAX_BODY:
            raise GatewayError(413, "body_too_large", f"The request body may be at most {MAX_BODY} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if body and not _is_json(request.content_type):  # chunked body without a JSON content type
        raise GatewayError(415, "unsupported_media_type", "The request body must be application/json")
    return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _claims_set(body: bytes) -> dict[str, Any] | None:
    if not body.strip():
        return None
    try:
        document = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise bad_request("The request body is not valid JSON", "invalid_json") from None
    if not isinstance(document, dict):
        raise bad_request("The request body must be a JSON object such as {\"claimsSet\": {...}}", "invalid_json")
    claims_set = document.get("claimsSet")
    if claims_set is not None and not isinstance(claims_set, dict):
        raise bad_request("claimsSet must be a JSON object")
    return claims_set


# --------------------------------------------------------------------------- JWKS


class JwksPublisher:
    """The JWKS body of the current keyring, rebuilt only when a rotation swapped the keyring."""

    def __init__(self) -> None:
        self._keyring: object = None
        self._body = b""
        self._etag = ""

    def current(self, keyring: object) -> tuple[bytes, str]:
        if keyring is not self._keyring:
            body = json.dumps(jwks_document(keyring), separators=(",", ":")).encode()  # type: ignore[arg-type]
            self._body, self._etag = body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            self._keyring = keyring
        return self._body, self._etag


async def certs(gateway: "GatewayHost", request: web.Request, publisher: JwksPublisher) -> web.Response:
    services = gateway.runtime.services
    if services.keyring is None:
        raise jwt_configuration_empty()
    body, etag = publisher.current(services.keyring())
    headers = {"Cache-Control": f"public, max-age={JWKS_MAX_AGE}", "ETag": etag}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)


# --------------------------------------------------------------------------- routes


def routes(gateway: "GatewayHost") -> list[web.RouteDef]:
    publisher = JwksPublisher()

    def endpoint(methods: tuple[str, ...], handler: Callable[..., Awaitable[web.StreamResponse]], *extra: Any) -> Handler:
        """Every method reaches us (a 405 here beats the catch-all's 404); errors render as JSON."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                if request.method not in methods:
                    raise GatewayError(405, "method_not_allowed", f"Method {request.method} is not allowed", headers={"Allow": ", ".join(methods)})
                return await handler(gateway, request, *extra)
            except GatewayError as error:
                gateway.metrics.refused(error.code)
                return error_response(error, realm=REALM)

        return wrapped

    return [
        web.route("*", USER_TOKEN_PATH, endpoint(("GET",), user_token)),
        web.route("*", APP_TOKEN_PATH, endpoint(("POST",), application_token)),
        web.route("*", CERTS_PATH, endpoint(("GET", "HEAD"), certs, publisher)),
    ]
