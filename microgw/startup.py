"""Start-up assembly: the settings a gateway serves, put together in one place.

Files, environment and command line, then the vendor's archives and the parent's download over
them, then the runtime built from the result. ``microgw check``, ``microgw start``, a reload and
each download from the parent all go through here, so they cannot drift apart, and
:meth:`Assembly.load` is the only production caller of the loader.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple

from microgw.config.errors import ConfigError, ConfigProblem
from microgw.config.loader import Loaded, load_settings
from microgw.policies.registry import CATALOG
from microgw.yielding import in_background

if TYPE_CHECKING:  # the runtime's parts load only when a command builds one (tools start fast)
    import ssl

    from microgw.config.model import Settings
    from microgw.config.sources import Source
    from microgw.runtime import Runtime
    from microgw.sync.poller import DownloadTarget, ParentSync

log = logging.getLogger("microgw")


def https_context(settings: Settings) -> ssl.SSLContext | None:
    """The HTTPS listener's TLS context (None without HTTPS). Every configured store is loaded
    first, HTTPS on or not, so a wrong password or a broken file stops ``check`` as it stops ``start``."""
    from microgw.keys.tls import TlsConfigError, server_context

    check_stores(settings)
    if settings.server.https_port is None or settings.key_store is None:
        return None
    try:
        return server_context(settings.key_store)
    except TlsConfigError as exc:
        raise ConfigError([ConfigProblem("configuration", "key_store", str(exc))]) from None


def check_stores(settings: Settings) -> None:
    """Load every key and trust store the settings name; ConfigError with each one that fails."""
    from microgw.keys.stores import StoreError, load_keystore, load_truststore

    problems = []
    stores = [("key_store", settings.key_store, load_keystore), ("trust_store", settings.trust_store, load_truststore)]
    stores += [(f"keystores.{alias}", store, load_keystore) for alias, store in settings.keystores.items() if alias != "default"]
    stores += [(f"truststores.{alias}", store, load_truststore) for alias, store in settings.truststores.items() if alias != "default"]
    for path, store, load in stores:
        if store is None or (store.type == "PEM" and load is load_keystore and store.key_location):
            continue  # a PEM certificate with its key in another file: the TLS context loads both
        try:
            load(store.type, store.location, store.password)
        except StoreError as exc:
            problems.append(ConfigProblem("configuration", path, str(exc)))
    if problems:
        raise ConfigError(problems)


def locate(exc: ConfigError, loaded: Loaded) -> ConfigError:
    """Problems found after loading (key stores, runtime build) name the file and line that wrote
    the setting, in the same form as the loader's own."""
    from microgw.config.errors import parse_path
    from microgw.config.sources import origin

    problems = []
    for problem in exc.problems:
        if problem.source == "configuration" and loaded.sources:
            name, line, path = origin(list(loaded.sources), parse_path(problem.path))
            problem = ConfigProblem(name, path, problem.message, line)
        problems.append(problem)
    for source in loaded.sources:  # the lines were found in the text; its node tree goes
        if source.lines is not None:
            source.lines.release()
    return ConfigError(problems)


def render(exc: ConfigError) -> str:
    """How ``check`` prints and ``start`` logs a refused configuration (one format for both)."""
    lines = [f"the configuration has {len(exc.problems)} problem(s):"]
    return "\n".join([*lines, *(f"  {problem}" for problem in exc.problems)])


class Prepared(NamedTuple):
    """What a gateway starts with."""

    loaded: Loaded
    runtime: Runtime  # built, not started
    sync: ParentSync | None  # the parent connection, when settings are downloaded
    downloaded: dict | None  # the parent's settings in ``loaded``, if any


class Assembly:
    """How one gateway's settings are assembled: its files, environment and command-line overrides,
    with the archives' APIs and then the parent's settings as overlays (the loader applies
    endpoint_rewrites to both)."""

    def __init__(self, paths: list[str | Path], *, environ: Mapping[str, str] | None = None, overrides: dict | None = None) -> None:
        self.paths = list(paths)
        self.environ = environ
        self.overrides = overrides
        self.archives: list[tuple[str, dict]] = []  # APIs from the vendor's archives (-a), read once
        self.parent: str | None = None  # names the parent's overlay, once a parent is configured

    def load(self, downloaded: dict | None = None, *, files: list[Source] | None = None) -> Loaded:
        """The settings with the archives and ``downloaded`` over them; ``files`` from an earlier
        load are used instead of reading the files again. The one production call of the loader:
        whatever else it needs is passed here."""
        overlays = list(self.archives)
        if downloaded is not None and self.parent is not None:
            overlays.append((self.parent, downloaded))
        return load_settings(
            self.paths, policies=CATALOG, environ=self.environ, overrides=self.overrides, overlays=overlays, files=files
        )

    def _read_archives(self, settings: Settings) -> None:
        from microgw.sync.archive_files import load_archive_files

        self.archives = load_archive_files(settings)

    def check(self) -> Loaded:
        """``microgw check``: the settings with the archives, their runtime built once (not
        started), the HTTPS key store loaded. ConfigError names what ``start`` would refuse."""
        from microgw.runtime import build_runtime

        loaded = self.load()
        self._read_archives(loaded.settings)
        if self.archives:
            loaded = self.load(files=loaded.files)
        try:
            https_context(loaded.settings)
            build_runtime(loaded.settings)
        except ConfigError as exc:
            raise locate(exc, loaded) from None
        return loaded

    async def build(self, downloaded: dict | None, *, current: Loaded, previous: Runtime | None, reread: bool = False, busy: Callable[[], bool] | None = None) -> tuple[Loaded, Runtime]:
        """Load and build a runtime (not started) to follow ``previous``; ConfigError when either
        refuses. Only a reload (``reread``) reads the files again: otherwise those of ``current``
        are used, so a half-edited file neither blocks a download nor goes live unasked. ``busy``: the
        running gateway's "are requests being answered?", so the work yields to them (microgw.yielding)."""
        from microgw.runtime import build_runtime

        if downloaded is None and not self.archives and not reread and previous is None:
            loaded = current  # as the command line loaded it
        else:
            loaded = await in_background(functools.partial(self.load, downloaded, files=None if reread else current.files), busy=busy)
        try:
            runtime = await in_background(build_runtime, loaded.settings, previous, busy=busy)
        except ConfigError as exc:
            raise locate(exc, loaded) from None
        return loaded, runtime

    async def prepare(self, loaded: Loaded, target: DownloadTarget, *, follower: bool = False) -> Prepared:
        """The settings to start with, and their runtime: archives and the parent's settings over
        the YAML. A download refused by the loader or by the runtime build leaves the next
        candidate: the saved copy of the last good download, then the YAML alone (whose problems
        stop the start). ``target`` receives the parent's later downloads. A ``follower`` (a
        worker other than 0 of a --workers group) never asks the parent: it serves and follows the
        copy worker 0 saves."""
        settings = loaded.settings
        await asyncio.to_thread(self._read_archives, settings)
        if settings.parent is not None and settings.parent.download:
            from microgw.keys.tls import client_context
            from microgw.sync.poller import ParentSync

            sync = ParentSync(target, settings.parent, settings.state_dir, client_context(settings.trust_store), follow=follower)
            self.parent = f"parent gateway {sync.client.base}"
            if follower:
                saved = sync.saved()
                if saved is not None:
                    built = await self._try_download(saved[0], "the settings worker 0 downloaded", loaded, sync)
                    if built is not None:
                        sync.following(saved[0])
                        return Prepared(*built, sync, saved[0])
                sync.following(None)
                return Prepared(*await self.build(None, current=loaded, previous=None), sync, None)
            fresh = await sync.initial()
            if fresh is not None:
                built = await self._try_download(fresh, "the settings downloaded from the parent", loaded, sync)
                if built is not None:
                    sync.serving(fresh, "downloaded", fresh=True)
                    return Prepared(*built, sync, fresh)
            why = "downloaded settings refused" if fresh is not None else "parent unreachable"
            saved = sync.saved()
            if saved is not None:
                document, saved_at = saved
                built = await self._try_download(document, "the saved copy of the parent's settings", loaded, sync)
                if built is not None:
                    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(saved_at))
                    sync.serving(document, f"{why}; serving the copy downloaded at {stamp}")
                    return Prepared(*built, sync, document)
            sync.serving(None, f"{why} and no usable saved copy; serving the YAML settings alone")
            return Prepared(*await self.build(None, current=loaded, previous=None), sync, None)
        return Prepared(*await self.build(None, current=loaded, previous=None), None, None)

    async def _try_download(self, document: dict[str, Any], what: str, loaded: Loaded, sync: ParentSync) -> tuple[Loaded, Runtime] | None:
        try:
            return await self.build(document, current=loaded, previous=None)
        except ConfigError as exc:
            log.error("%s were refused:\n%s", what, exc)
            sync.refused(exc)
            return None
        except Exception as exc:  # a bug of ours met by what the parent sent: the YAML may still start
            log.exception("%s could not be loaded", what)
            sync.refused(f"unexpected error ({exc.__class__.__name__})")
            return None
