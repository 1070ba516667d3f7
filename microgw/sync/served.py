"""What a parent serves to its children, computed once per runtime: bodies, strong ETags, gzip.

A fleet polls the parent every few seconds and almost every poll finds nothing new. So each answer
(``alias``, ``applications``, ``strategies``, ``apis``, ``archive``) is built once for the runtime
being served and kept with its ETag (a hash of the body) and, when first asked for, its gzip form.
A request whose ``If-None-Match`` names the ETag gets 304 without a body.

Every answer also carries :data:`SETTINGS_HEADER`: one tag over everything the parent serves to a
child (all answers, for this base URL, and the parent's own JWKS). A microgw child that sees the
same tag it downloaded everything under knows the whole download is unchanged after one request.
A vendor parent sends no such header (and perhaps no ETag); the child then downloads as before.

The tag is a hash of the *inputs* of the answers (the served sections of the settings, the API ids,
the own issuer, the base URL, the JWKS ETag and this microgw's version), so it costs one
serialisation per runtime, not building every archive up front. Equal settings give equal tags,
also on another parent of the same fleet (behind one Service): a poll may land on any of them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

SETTINGS_HEADER = "X-Microgw-Settings"
GZIP_SUFFIX = "-gzip"
MIN_GZIP = 512  # smaller bodies are sent as they are: the header costs more than it saves
MAX_SELECTIONS = 64  # archives for other ``apis=`` selections kept per runtime (they are admin-only)
MAX_BASES = 8  # base URLs (scheme + Host) kept per runtime


def _tag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


@dataclass
class Answer:
    """One served body with its strong ETag; the gzip form is made on first demand."""

    body: bytes
    content_type: str
    etag: str = ""
    compressible: bool = True
    _gzip: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.etag = self.etag or _tag(self.body)

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + GZIP_SUFFIX + '"'

    def gzipped(self) -> bytes:
        if self._gzip is None:
            self._gzip = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzip

    def wants_gzip(self, accept_encoding: str) -> bool:
        return self.compressible and len(self.body) >= MIN_GZIP and accepts_gzip(accept_encoding)

    def matches(self, if_none_match: str) -> bool:
        """Does ``If-None-Match`` name this answer (either encoding)? Weak comparison, as RFC 9110 says."""
        if not if_none_match:
            return False
        for candidate in if_none_match.split(","):
            candidate = candidate.strip()
            if candidate == "*":
                return True
            candidate = candidate.removeprefix("W/")
            if candidate in (self.etag, self.gzip_etag):
                return True
        return False


def accepts_gzip(accept_encoding: str) -> bool:
    """``gzip`` listed with a non-zero q (``gzip;q=0`` refuses it)."""
    for item in accept_encoding.lower().split(","):
        name, _, params = item.strip().partition(";")
        if name.strip() not in ("gzip", "x-gzip"):
            continue
        params = params.replace(" ", "")
        if params.startswith("q="):
            try:
                return float(params[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def json_answer(data: Any) -> Answer:
    return Answer(json.dumps(data, separators=(",", ":"), default=str).encode(), "application/json")


class Served:
    """The answers of one runtime for one base URL, each built on first request and then kept."""

    def __init__(self, inputs_tag: str) -> None:
        self.inputs_tag = inputs_tag
        self.answers: dict[str, Answer] = {}
        self.selections: dict[tuple[str, ...], Answer] = {}

    def get(self, name: str, build: Callable[[], Answer]) -> Answer:
        answer = self.answers.get(name)
        if answer is None:
            answer = self.answers[name] = build()
        return answer

    def archive(self, selection: tuple[str, ...], build: Callable[[], Answer]) -> Answer:
        answer = self.selections.get(selection)
        if answer is None:
            if len(self.selections) >= MAX_SELECTIONS:
                self.selections.clear()
            answer = self.selections[selection] = build()
        return answer


class ServedCache:
    """The :class:`Served` of the runtime being served; a new runtime (a reload) starts afresh.

    Only the current runtime's answers are kept, so a reload frees the old ones.
    """

    def __init__(self) -> None:
        self._runtime: object = None
        self._by_base: dict[str, Served] = {}
        self._keyring: object = None
        self._jwks_tag = ""

    def served(self, runtime: Any, base_url: str, inputs: Callable[[], Any]) -> Served:
        if runtime is not self._runtime:
            self._runtime, self._by_base = runtime, {}
        served = self._by_base.get(base_url)
        if served is None:
            if len(self._by_base) >= MAX_BASES:
                self._by_base.clear()
            data = json.dumps([base_url, inputs()], sort_keys=True, separators=(",", ":"), default=str).encode()
            served = self._by_base[base_url] = Served(hashlib.sha256(data).hexdigest())
        return served

    def jwks_tag(self, keyring: object, document: Callable[[], Any]) -> str:
        """The hash of the published JWKS, remade only when a rotation swapped the keyring."""
        if keyring is not self._keyring:
            self._jwks_tag = hashlib.sha256(json.dumps(document(), sort_keys=True).encode()).hexdigest() if keyring is not None else ""
            self._keyring = keyring
        return self._jwks_tag


def settings_tag(inputs_tag: str, jwks_tag: str) -> str:
    return _tag(f"{inputs_tag}:{jwks_tag}".encode())
