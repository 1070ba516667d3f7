"""This gateway as an RFC 7662 introspection endpoint for the tokens it issues.

``POST /invoke/pub.oauth/introspectToken`` (the vendor's Integration Server service path, which its
auth server aliases name as ``introspectionEndpoint``), so a sidecar — or any resource server — can
ask a parent microgw whether a token is active, with a ``remoteIntrospectionConfig`` pointing here.

Decisions:

* **Callers authenticate** (RFC 7662 §2.1; otherwise the endpoint is a token-scanning oracle): HTTP
  Basic of a gateway user (``users``) or of the admin user, or the API key of a known application
  that is not suspended. Nothing presented: 401 ``WWW-Authenticate: Basic``; a wrong credential: 401.
* **Only this gateway's own tokens are active**: signed by its keyring (the auth server whose issuer
  is ``issuer.issuer``), signature and time claims valid. A token an application signed with its
  ``JWT_HSA`` secret, a third party's token, an expired or malformed one: ``{"active": false}`` and
  nothing else (RFC 7662 §2.2: no reason is given).
* An active answer is the token's claims plus ``active: true`` and ``token_type: Bearer``; tokens
  issued to applications carry ``client_id`` (the application id), which the caller's
  ``oAuth2Token`` identification uses.
* The request: ``application/x-www-form-urlencoded`` (415 otherwise), at most 64 KiB (413), exactly
  one ``token`` (400 ``invalid_request``); ``token_type_hint`` is accepted and ignored (there is one
  token type here). Answers are ``Cache-Control: no-store``.
* HTTPS only, like the token endpoints, unless ``issuer.https_only: false`` (tokens and credentials
  travel in it); no issuer configured: 404 ``jwt_configuration_empty``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from aiohttp import web

from microgw.credentials import presented_basic
from microgw.errors import GatewayError, TokenError, bad_request, invalid_credentials, missing_credentials
from microgw.policies.app_signed import is_app_signed
from microgw.responses import error_response, json_response
from microgw.endpoints.tokens import NO_STORE, REALM, _issuing_services

if TYPE_CHECKING:
    from microgw.host import GatewayHost
    from microgw.services import Services

INTROSPECT_PATH = "/invoke/pub.oauth/introspectToken"
MAX_BODY = 64 * 1024
FORM = "application/x-www-form-urlencoded"


async def introspect(gateway: "GatewayHost", request: web.Request) -> web.Response:
    services = _issuing_services(gateway, request)
    await _authenticate_caller(services, request)
    token = _token(await _read_form(request))
    return json_response(await answer(services, token), headers=NO_STORE)


async def answer(services: "Services", token: str) -> dict[str, Any]:
    """The RFC 7662 answer for ``token``: its claims when this gateway issued it and it is valid now."""
    validator, issuer = services.validator, services.issuer
    own = validator.server_for_issuer(issuer.issuer) if validator is not None and issuer is not None else None
    if own is None:
        return {"active": False}
    try:
        verified = await validator.validate(token, allowed_server_ids=frozenset({own.id}))  # type: ignore[union-attr]
    except TokenError:
        return {"active": False}
    if is_app_signed(verified):
        return {"active": False}  # signed with an application's secret: not a token this gateway issued
    return {**verified.claims, "active": True, "token_type": "Bearer"}


async def _authenticate_caller(services: "Services", request: web.Request) -> None:
    key = request.headers.get(services.settings.api_key_header)
    authorization = request.headers.get("Authorization")
    if authorization:
        credentials = presented_basic(authorization)
        if credentials is not None:
            user, password = credentials
            client = request.remote or ""  # fairness and backoff per caller, as on every other password check
            if await services.users.verify(user, password, client=client) or await services.admin_users.verify(user, password, client=client):
                return
            raise invalid_credentials("Invalid user name or password")
    if key is not None:
        app = services.applications.by_api_key(key) if services.applications is not None else None
        if app is None or app.suspended:
            raise invalid_credentials("Unknown API key", "APIKey")
        return
    raise missing_credentials("The caller must authenticate: HTTP Basic (a gateway user) or an application's API key", "Basic")


async def _read_form(request: web.Request) -> dict[str, list[str]]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise GatewayError(413, "body_too_large", f"The request body may be at most {MAX_BODY} bytes")
    if request.content_type != FORM:
        raise GatewayError(415, "unsupported_media_type", f"The request body must be {FORM}")
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise GatewayError(413, "body_too_large", f"The request body may be at most {MAX_BODY} bytes")
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise bad_request("The request body is not a valid form", "invalid_request") from None


def _token(form: dict[str, list[str]]) -> str:
    tokens = form.get("token") or []
    if len(tokens) != 1 or not tokens[0]:
        raise bad_request("Give the token to introspect once, as the form parameter token", "invalid_request")
    return tokens[0]


def routes(gateway: "GatewayHost") -> list[web.RouteDef]:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            if request.method != "POST":
                raise GatewayError(405, "method_not_allowed", f"Method {request.method} is not allowed", headers={"Allow": "POST"})
            return await introspect(gateway, request)
        except GatewayError as error:
            gateway.metrics.refused(error.code)
            return error_response(error, realm=REALM)

    return [web.route("*", INTROSPECT_PATH, handler)]
