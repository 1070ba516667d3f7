"""Downloading settings from a parent gateway over its REST API (the subset in the README).

``GET /rest/apigateway/alias`` (auth servers, simple aliases), ``/strategies``, ``/applications``,
``/apis`` and ``/archive?apis=<id>`` (each API with its policies, in the vendor's archive layout).
The result is one document in microgw's YAML form, validated like a file before anything uses it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from microgw.sync import vendor

log = logging.getLogger("microgw.sync")

MAX_ANSWER = 32 << 20  # an answer larger than this is refused, not read


class DownloadError(Exception):
    """The parent could not be reached or answered something unusable; the message has no secrets."""


def parent_base(url: str) -> URL:
    """``host:port``, ``http://host:5555`` and ``http://host:5555/rest/apigateway`` -> the server root."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parsed = URL(text)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise DownloadError(f"not a parent gateway URL: {url!r}")
    path = parsed.path.rstrip("/")
    for suffix in ("/rest/apigateway", "/rest"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return parsed.with_path(path or "/").with_query(None).with_fragment(None)


@dataclass(frozen=True)
class ParentSettings:
    url: str
    user: str | None
    password: str | None
    apis: tuple[str, ...] | None  # API names to download; None: all
    applications: bool = True
    timeout: float = 10.0


class ParentClient:
    def __init__(self, parent: ParentSettings, ssl_context: ssl.SSLContext | None = None) -> None:
        self.parent = parent
        self.base = parent_base(parent.url)
        self.ssl = ssl_context

    def _auth(self) -> dict[str, str]:
        if not self.parent.user:
            return {}
        return {"Authorization": aiohttp.BasicAuth(self.parent.user, self.parent.password or "").encode()}

    async def _get(self, session: aiohttp.ClientSession, path: str, params: dict | None = None) -> bytes:
        url = self.base.with_path(self.base.path.rstrip("/") + path)
        try:
            async with session.get(url, params=params, headers={**self._auth(), "Accept": "application/json"}, ssl=self.ssl, allow_redirects=False) as resp:
                if resp.status == 401:
                    raise DownloadError(f"{path}: the parent refused the credentials (401)")
                if resp.status != 200:
                    raise DownloadError(f"{path}: the parent answered {resp.status}")
                if resp.content_length and resp.content_length > MAX_ANSWER:
                    raise DownloadError(f"{path}: the answer is too large")
                body = await resp.content.read(MAX_ANSWER + 1)
                if len(body) > MAX_ANSWER:
                    raise DownloadError(f"{path}: the answer is too large")
                return body
        except asyncio.TimeoutError:
            raise DownloadError(f"{path}: the parent did not answer in time") from None
        except aiohttp.ClientError as exc:
            raise DownloadError(f"{path}: cannot reach the parent ({exc.__class__.__name__})") from None

    async def _json(self, session: aiohttp.ClientSession, path: str, key: str) -> list:
        try:
            data = json.loads(await self._get(session, path))
        except ValueError:
            raise DownloadError(f"{path}: the answer is not JSON") from None
        value = data.get(key) if isinstance(data, dict) else None
        if value is None:
            return []
        if not isinstance(value, list):
            raise DownloadError(f"{path}: {key!r} is not a list")
        return value

    async def _keep_parent_keys(self, session: aiohttp.ClientSession, server: dict[str, Any]) -> None:
        """Store the parent's own JWKS with the download, so a restart without the parent validates.

        Only JWKS URIs on the parent itself are fetched here; third-party issuers are left to the
        usual background fetching.
        """
        jwks_uri = (server.get("localIntrospectionConfig") or {}).get("jwksuri")
        if not jwks_uri:
            return
        target = URL(jwks_uri)
        if (target.scheme, target.host, target.port) != (self.base.scheme, self.base.host, self.base.port):
            return
        try:
            document = json.loads(await self._get(session, target.path))
        except (DownloadError, ValueError):
            return  # the background fetch will try again; the download itself is still good
        if isinstance(document, dict) and isinstance(document.get("keys"), list):
            server["jwks_inline"] = {"keys": document["keys"]}

    async def download(self) -> dict[str, Any]:
        """Everything to download, as a configuration document in microgw's YAML form."""
        from microgw.sync.archive import ArchiveError, load_archive
        from microgw.sync.archive_files import with_ids

        timeout = aiohttp.ClientTimeout(total=self.parent.timeout)
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
            aliases = await self._json(session, "/rest/apigateway/alias", "alias")
            document: dict[str, Any] = {}
            servers = vendor.auth_servers_from_aliases(aliases)
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
            listed = await self._json(session, "/rest/apigateway/apis", "apiResponse")
            apis = []
            for entry in listed:
                summary = entry.get("api", entry) if isinstance(entry, dict) else {}
                name, api_id = summary.get("apiName"), summary.get("id")
                if not name or not api_id or (self.parent.apis is not None and name not in self.parent.apis):
                    continue
                archive = await self._get(session, "/rest/apigateway/archive", {"apis": api_id})
                try:
                    content = load_archive(archive)
                except ArchiveError as exc:
                    raise DownloadError(f"archive of API {name}: {exc}") from None
                for warning in content.warnings:
                    log.warning("API %s from the parent: %s", name, warning)
                apis.extend(with_ids(content.apis, content.ids))
            document["apis"] = apis
            return document
