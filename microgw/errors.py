"""The one error type for the gateway's own answers.

Every stage, endpoint and loader that refuses something raises :class:`GatewayError`; one place
(:mod:`microgw.responses`) turns it into an HTTP answer. The error knows its status, a stable
machine-readable ``code``, a human message that never contains secrets or internals, and — for
authentication failures — the RFC 6750 challenge to send.
"""

from __future__ import annotations


class GatewayError(Exception):
    """A refusal with everything needed to render it.

    ``challenge`` is the auth scheme for ``WWW-Authenticate`` (``"Bearer"`` or ``"Basic"``) or None;
    ``bearer_error`` is the RFC 6750 error code (``invalid_token``, ``invalid_request``,
    ``insufficient_scope``) and is left out of the challenge when the client sent no credentials;
    ``scope`` (space-separated) tells an ``insufficient_scope`` client which scopes would do.
    """

    __slots__ = ("status", "code", "message", "challenge", "bearer_error", "headers", "scope")

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        challenge: str | None = None,
        bearer_error: str | None = None,
        headers: dict[str, str] | None = None,
        scope: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.challenge = challenge
        self.bearer_error = bearer_error
        self.headers = headers or {}
        self.scope = scope  # RFC 6750 §3: the scopes needed, with insufficient_scope

    def __repr__(self) -> str:
        return f"GatewayError({self.status}, {self.code!r}, {self.message!r})"


class EndpointUnreachable(GatewayError):
    """No connection to the native endpoint could be made, so nothing was sent: a routing policy may
    try another endpoint (and mark this one down). Rendered like any 502/504 of the forward."""

    __slots__ = ()


class Answered(Exception):
    """A request stage answers by itself (a CORS preflight, say): the request goes no further and
    ``response`` (an aiohttp response) is sent as it is."""

    __slots__ = ("response",)

    def __init__(self, response: object) -> None:
        super().__init__("answered by a policy")
        self.response = response


class TokenError(GatewayError):
    """A presented token is not acceptable: 401 ``invalid_token`` with a short description."""

    def __init__(self, description: str) -> None:
        super().__init__(401, "invalid_token", description, challenge="Bearer", bearer_error="invalid_token")


def missing_credentials(message: str = "Authentication required", scheme: str = "Bearer") -> GatewayError:
    return GatewayError(401, "missing_credentials", message, challenge=scheme)


def invalid_credentials(message: str = "Invalid credentials", scheme: str = "Basic") -> GatewayError:
    return GatewayError(401, "invalid_credentials", message, challenge=scheme)


def forbidden(message: str, code: str = "forbidden") -> GatewayError:
    return GatewayError(403, code, message)


def bad_request(message: str, code: str = "bad_request") -> GatewayError:
    return GatewayError(400, code, message)


def not_found(message: str = "No API matches this path") -> GatewayError:
    return GatewayError(404, "not_found", message)
