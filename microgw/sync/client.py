"""Downloading settings from a parent gateway over its REST API (the subset in the README).

``GET /rest/apigateway/alias`` (auth servers, simple aliases), ``/strategies``, ``/applications``,
``/apis`` and ``/archive?apis=<id>`` (each API with its policies, in the vendor's archive layout).
The result is one document in microgw's YAML form, validated like a file before anything uses it.

Polls are cheap for the parent: one keep-alive connection per download, gzip accepted, and every
answer that came with an ETag asked for again with ``If-None-Match`` (a 304 reuses the kept body).
A microgw parent also sends one tag over all it serves (:data:`~microgw.sync.served.SETTINGS_HEADER`);
when the first answer of a poll (``/apis``) carries the tag the last complete download was made
under, nothing changed and the poll ends there. A vendor parent (no tag, perhaps no ETags) is
downloaded whole each time, as before.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from microgw.config.urls import parent_base
from microgw.sync import vendor
from microgw.sync.served import SETTINGS_HEADER

log = logging.getLogger("microgw.sync")

MAX_ANSWER = 32 << 20  # an answer larger than this is refused, not read


class DownloadError(Exception):
    """The parent could not be reached or answered something unusable; the message has no secrets."""


@dataclass(frozen=True)
class ParentSettings:
    url: str
    user: str | None
    password: str | None
    apis: tuple[str, ...] | None  # API names to download; None: all
    applications: bool = True
    timeout: float = 10.0
    skip_unsupported: bool = False  # archive_skip_unsupported: load APIs without unsupported policies


class ParentClient:
    def __init__(self, parent: ParentSettings, ssl_context: ssl.SSLContext | None = None) -> None:
        self.parent = parent
        try:
            self.base = parent_base(parent.url)
        except ValueError as exc:
            raise DownloadError(str(exc)) from None
        self.ssl = ssl_context
        self.warnings: list[str] = []  # what the last download wants the user to know (logged by the caller)
        self.unchanged = False  # the last download was answered by the parent's unchanged settings tag
        self._kept: dict[str, tuple[str, bytes]] = {}  # request -> (ETag, body) of the last good download
        self._fresh: dict[str, tuple[str, bytes]] = {}  # the same, gathered by the download under way
        self._tags: set[str | None] = set()  # settings tags seen by the download under way
        self._previous: tuple[str, dict[str, Any], list[str]] | None = None  # (tag, document, warnings)
        self._parsed: dict[str, tuple[list, list[str]]] = {}  # archive ETag -> (APIs, warnings) read from it

    def _auth(self) -> dict[str, str]:
        if not self.parent.user:
            return {}
        credentials = f"{self.parent.user}:{self.parent.password or ''}"
        try:
            raw = credentials.encode("latin-1")  # what aiohttp's BasicAuth sent
        except UnicodeEncodeError:
            raw = credentials.encode("utf-8")  # RFC 7617's charset for anything else
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}

    async def _get(self, session: aiohttp.ClientSession, path: str, params: dict | None = None) -> bytes:
        return await self._fetch(session, self.base.with_path(self.base.path.rstrip("/") + path), path, params)

    async def _fetch(self, session: aiohttp.ClientSession, url: URL, path: str, params: dict | None = None) -> bytes:
        key = str(url.with_query(params) if params else url)
        kept = self._kept.get(key)
        headers = {**self._auth(), "Accept": "application/json", "Accept-Encoding": "gzip"}
        if kept is not None:
            headers["If-None-Match"] = kept[0]
        try:
            async with session.get(url, params=params, headers=headers, ssl=self.ssl, allow_redirects=False) as resp:
                if path.startswith("/rest/apigateway/"):  # the settings answers (not the JWKS)
                    self._tags.add(resp.headers.get(SETTINGS_HEADER))
                if resp.status == 304 and kept is not None:
                    self._fresh[key] = kept
                    return kept[1]
                if resp.status == 401:
                    raise DownloadError(f"{path}: the parent refused the credentials (401)")
                if resp.status != 200:
                    raise DownloadError(f"{path}: the parent answered {resp.status}")
                if resp.content_length and resp.content_length > MAX_ANSWER:
                    raise DownloadError(f"{path}: the answer is too large")
                # read() with a size returns what is buffered so far, not the whole answer: read to EOF
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > MAX_ANSWER:
                        raise DownloadError(f"{path}: the answer is too large")
                    chunks.append(chunk)
                body = b"".join(chunks)
                etag = resp.headers.get("ETag")
                if etag and not etag.startswith("W/"):
                    self._fresh[key] = (etag, body)
                return body
        except asyncio.TimeoutError:
            raise DownloadError(f"{path}: the parent did not answer in time") from None
        except aiohttp.ClientError as exc:
            raise DownloadError(f"{path}: cannot reach the parent ({exc.__class__.__name__})") from None

    async def _json(self, session: aiohttp.ClientSession, path: str, key: str) -> list:
        """The list under ``key``; an answer without it is unusable, not an empty list (that would
        remove everything downloaded before)."""
        try:
            data = json.loads(await self._get(session, path))
        except ValueError:
            raise DownloadError(f"{path}: the answer is not JSON") from None
        if not isinstance(data, dict) or key not in data:
            raise DownloadError(f"{path}: the answer has no {key!r}")
        value = data[key]
        if not isinstance(value, list):
            raise DownloadError(f"{path}: {key!r} is not a list")
        return value

    async def _keep_parent_keys(self, session: aiohttp.ClientSession, server: dict[str, Any]) -> None:
        """Store the parent's own JWKS with the download, so a restart without the parent validates.

        Only JWKS URIs on the parent itself (same scheme, host and port) are fetched here, at the
        URI given; third-party issuers are left to the usual background fetching.
        """
        jwks_uri = (server.get("localIntrospectionConfig") or {}).get("jwksuri")
        if not jwks_uri:
            return
        target = URL(jwks_uri)
        if (target.scheme, target.host, target.port) != (self.base.scheme, self.base.host, self.base.port):
            return
        try:
            document = json.loads(await self._fetch(session, target, target.path))
        except (DownloadError, ValueError):
            return  # the background fetch will try again; the download itself is still good
        if isinstance(document, dict) and isinstance(document.get("keys"), list):
            server["jwks_inline"] = {"keys": document["keys"]}

    def _read_archive(self, archive: bytes, api_id: str, name: str, load_archive, archive_error, with_ids) -> tuple[list, list[str]]:
        """The APIs of one API's archive; one that came back by ETag is not read again (a change of
        one application would otherwise make every child unzip and map every archive anew)."""
        etag = self._fresh.get(str(self._archive_url(api_id)), ("",))[0]
        kept = self._parsed.get(etag) if etag else None
        if kept is None:
            try:
                content = load_archive(archive, skip_unsupported=self.parent.skip_unsupported)
            except archive_error as exc:
                raise DownloadError(f"archive of API {name}: {exc}") from None
            kept = (with_ids(content.apis, content.ids), [f"API {name} from the parent: {w}" for w in content.warnings])
            if etag:
                self._parsed_fresh[etag] = kept
        else:
            self._parsed_fresh[etag] = kept
        return copy.deepcopy(kept[0]), list(kept[1])  # the document is the caller's to change

    def _archive_url(self, api_id: str) -> URL:
        url = self.base.with_path(self.base.path.rstrip("/") + "/rest/apigateway/archive")
        return url.with_query({"apis": api_id})

    async def download(self) -> dict[str, Any]:
        """Everything to download, as a configuration document in microgw's YAML form.

        Raises DownloadError for anything unusable, including answers of the wrong shape: a parent
        that answers nonsense must not take the child down.
        """
        try:
            return await self._download()
        except vendor.VendorShapeError as exc:
            raise DownloadError(f"the parent's answer is malformed: {exc}") from None

    async def _download(self) -> dict[str, Any]:
        self._fresh, self._tags, self.unchanged, self._parsed_fresh = {}, set(), False, {}
        try:
            document = await self._download_all()
        except BaseException:
            self._previous = None
            raise
        self._kept = self._fresh  # only what this download used: a removed API's archive goes
        if not self.unchanged:
            self._parsed = self._parsed_fresh
        return document

    async def _download_all(self) -> dict[str, Any]:
        from microgw.sync.archive import ArchiveError, load_archive
        from microgw.sync.archive_files import with_ids

        warnings: list[str] = []
        timeout = aiohttp.ClientTimeout(total=self.parent.timeout)
        connector = aiohttp.TCPConnector(limit=1)  # every request of a download on one keep-alive connection
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False, connector=connector) as session:
            listed = vendor.objects(await self._json(session, "/rest/apigateway/apis", "apiResponse"), "apiResponse")
            previous = self._previous
            if previous is not None and self._tags == {previous[0]}:
                self.unchanged, self.warnings = True, previous[2]
                self._fresh = self._kept
                return previous[1]
            aliases = await self._json(session, "/rest/apigateway/alias", "alias")
            document: dict[str, Any] = {}
            servers = vendor.auth_servers_from_aliases(aliases, warnings)
            for server in servers:
                await self._keep_parent_keys(session, server)
            if servers:
                document["security_settings"] = {"auth_servers": servers}
            simple = vendor.simple_aliases(aliases)
            if simple:
                document["aliases"] = simple
            if self.parent.applications:
                strategies = await self._json(session, "/rest/apigateway/strategies", "strategies")
                apps = await self._json(session, "/rest/apigateway/applications", "applications")
                document["applications"] = vendor.applications_with_strategies(apps, strategies)
            apis = []
            for index, entry in enumerate(listed):
                summary = entry.get("api", entry)
                if not isinstance(summary, dict):
                    raise vendor.VendorShapeError(f"apiResponse[{index}].api is not an object")
                name, api_id = summary.get("apiName"), summary.get("id")
                if not isinstance(name, str) or not isinstance(api_id, str) or not name or not api_id:
                    continue
                if self.parent.apis is not None and name not in self.parent.apis:
                    continue
                archive = await self._get(session, "/rest/apigateway/archive", {"apis": api_id})
                read, archive_warnings = self._read_archive(archive, api_id, name, load_archive, ArchiveError, with_ids)
                warnings += archive_warnings
                apis.extend(read)
            document["apis"] = apis
            renamed = vendor.rename_parent_local(document)
            if renamed:
                log.debug("the parent's local auth server is kept as %r", renamed)
        self.warnings = warnings
        tags = self._tags - {None}
        # a tag covers this download only when every answer came under it (no reload in between)
        self._previous = (tags.pop(), document, warnings) if len(tags) == 1 and None not in self._tags else None
        return document
