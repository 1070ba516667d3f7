"""What one request carries through the pipeline. Each stage reads it and adds to it; none reaches back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web

    from microgw.routing import Route


class RequestContext:
    """Per-request state. ``remove_headers`` / ``add_headers`` describe what goes to the native service."""

    __slots__ = (
        "request",
        "route",
        "resource",
        "query",
        "protocol",
        "client_ip",
        "token",
        "token_location",
        "jwt",
        "api_key",
        "basic_user",
        "basic_password",
        "application",
        "identified_by",
        "remove_headers",
        "add_headers",
        "upstream",
        "buffer_answer",
        "answer_headers",
        "body",
        "method",
        "extras",
        "trace",
    )

    def __init__(self, request: "web.Request", route: "Route", resource: str | None, query: str, protocol: str, client_ip: str) -> None:
        self.request = request
        self.route = route
        self.resource = resource  # still percent-encoded, as the client sent it; None: no slash after the version
        self.query = query
        self.protocol = protocol  # "http" | "https"
        self.client_ip = client_ip
        self.token: str | None = None
        self.token_location: tuple[str, str] | None = None  # ("header", name) | ("cookie", name) | ("query", name)
        self.jwt: Any = None  # tokens.validator.VerifiedToken once authenticated
        self.api_key: str | None = None
        self.basic_user: str | None = None
        self.basic_password: str | None = None
        self.application: Any = None
        self.identified_by: str | None = None
        self.remove_headers: set[str] = set()  # lower-case names
        self.add_headers: list[tuple[str, str]] = []
        self.upstream: Any = None  # routing.UpstreamTarget chosen by a policy; None: the API's endpoint
        # True: the forward returns the native answer whole, as an unsent web.Response; a callable
        # (content type -> bool): only when it says so for the answer's Content-Type, else it streams
        self.buffer_answer: Any = False
        self.method: str | None = None  # the method for the native service, when a policy changes it
        self.body: bytes | None = None  # the request body as a policy read or changed it; None: streamed as sent
        self.answer_headers: list[tuple[str, str]] = []  # set on whatever answer goes out (CORS); Vary is merged
        self.extras: dict[str, Any] = {}
        self.trace: Any = None  # tracing.Trace of the request, when the gateway began one

    def want_answer(self, when: Any = None) -> None:
        """Ask for the native answer whole: always (``when`` None), or only when ``when(content_type)``
        holds for its Content-Type, so answers no policy reads keep streaming. Wishes add up: any
        stage asking always wins, and two conditions buffer when either holds."""
        wanted = self.buffer_answer
        if when is None or wanted is True:
            self.buffer_answer = True
        elif wanted is False:
            self.buffer_answer = when
        else:
            self.buffer_answer = lambda content_type: wanted(content_type) or when(content_type)
