"""Key sources for configured auth servers, and the gateway's own signing keyring.

Blocking work (reading stores, generating a first managed key) happens here, while a runtime is
built; nothing here runs on the request path.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from microgw.config.model import Settings
from microgw.config.security import LOCAL_SERVER_ID, AuthServerConfig
from microgw.keys.jwks import JwksError, parse_jwks
from microgw.keys.model import VerifyKey
from microgw.keys.remote import RemoteJwksSource
from microgw.keys.signing import KeyringRef, KeyStateDir, load_configured_keyring
from microgw.keys.static import KeyIndex, StaticKeySource, public_verify_key
from microgw.keys.stores import StoreError, load_truststore

log = logging.getLogger("microgw.keys")


class KeyProblem(ValueError):
    """A key source cannot be built; ``path`` says where in the configuration."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


class KeyringKeySource:
    """Verifies this gateway's own tokens straight from its signing keyring: no HTTP to itself.

    The published keys (current and not yet retired) verify; the index is rebuilt only when the
    keyring object changes (a rotation swapped it).
    """

    description = "local issuer keys"

    def __init__(self, ref: KeyringRef) -> None:
        self._ref = ref
        self._seen = None
        self._index = KeyIndex(())

    def _current(self) -> KeyIndex:
        keyring = self._ref()
        if keyring is not self._seen:
            keys = [public_verify_key(k.private_key.public_key(), kid=k.kid, source=self.description, allowed_algs={k.alg}) for k in keyring.published]
            self._index, self._seen = KeyIndex(keys), keyring
        return self._index

    def candidates(self, kid: str | None, alg: str) -> list[VerifyKey]:
        return self._current().candidates(kid, alg)

    async def refresh_for_unknown_kid(self, kid: str) -> bool:
        return False


def signing_keyring(settings: Settings) -> KeyringRef | None:
    """The issuer's keys: a configured keystore alias, or keys managed in ``state_dir/keys``."""
    issuer = settings.issuer
    if issuer is None:
        return None
    if issuer.key_alias is not None:
        store = settings.keystores[issuer.keystore_alias or "default"]
        try:
            keyring = load_configured_keyring(store.type, store.location, store.password, issuer.key_alias, issuer.algorithm)
        except (StoreError, ValueError) as exc:
            raise KeyProblem("issuer.signing_key", str(exc)) from None
        return KeyringRef(keyring)
    folder = Path(settings.state_dir) / "keys"
    try:
        keyring = KeyStateDir(folder).load_or_create(issuer.algorithm)
    except (OSError, ValueError, Exception) as exc:  # KeyStateError and file-system errors alike
        raise KeyProblem("state_dir", f"{folder}: cannot use the managed signing keys ({exc})") from None
    log.info("issuer %r signs with managed key %s from %s", issuer.issuer, keyring.current.kid, folder)
    return KeyringRef(keyring)


class KeyFolderWatcher:
    """Picks up `microgw keys add/retire` (or another instance's rotation) without a reload.

    Polls the manifest's change marker every few seconds off the event loop; a changed, readable
    keyring is swapped into the issuer's reference, a broken one is logged and ignored.
    """

    description = "managed signing keys"
    ready = True

    def __init__(self, ref: KeyringRef, folder: Path, interval: float = 5.0) -> None:
        self.ref = ref
        self.folder = KeyStateDir(folder)
        self.interval = interval
        self._seen = self.folder.version()
        self._task = None

    async def start(self) -> None:
        import asyncio

        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        import asyncio

        while True:
            await asyncio.sleep(self.interval)
            await self.check()

    async def check(self) -> bool:
        import asyncio

        version = await asyncio.to_thread(self.folder.version)
        if version == self._seen:
            return False
        try:
            keyring = await asyncio.to_thread(self.folder.load)
        except Exception as exc:  # a half-written or broken folder: keep signing with what we have
            log.error("managed signing keys changed but cannot be loaded (%s); keeping the current ones", exc)
            return False
        self._seen = version
        self.ref.swap(keyring)
        log.info("managed signing keys reloaded: %s signs, %d published", keyring.current.kid, len(keyring.published))
        return True


class FallbackKeySource:
    """A remote JWKS with keys kept beside it (``jwks_inline``) for the time it has never answered.

    The inline keys are a snapshot (e.g. the parent's keys saved with a download) so a gateway that
    starts without the parent still validates. Once the JWKS was fetched, it alone decides: a key
    the issuer retired stops validating here too, instead of being trusted forever from the snapshot.
    """

    def __init__(self, remote: RemoteJwksSource, inline: StaticKeySource) -> None:
        self.remote = remote
        self.inline = inline
        self.description = f"{remote.description} (saved keys until the first fetch)"

    def candidates(self, kid: str | None, alg: str) -> list[VerifyKey]:
        return self.remote.candidates(kid, alg) if self.remote.ready else self.inline.candidates(kid, alg)

    async def refresh_for_unknown_kid(self, kid: str) -> bool:
        return await self.remote.refresh_for_unknown_kid(kid)


@dataclass(frozen=True)
class BuiltServer:
    config: AuthServerConfig
    issuer: str
    sources: tuple


def remote_key(url: str, server: AuthServerConfig) -> tuple:
    """What makes two remote JWKS sources interchangeable (a reload may then keep the running one)."""
    j = server.jwks
    return (url, j.refresh_interval, j.unknown_kid_cooldown, j.timeout, j.max_bytes, server.algorithms)


def key_sources(
    settings: Settings,
    client_ssl: ssl.SSLContext,
    keyring: KeyringRef | None,
    extra: dict[str, list] | None = None,
    reuse: dict[tuple, RemoteJwksSource] | None = None,
) -> tuple[list[BuiltServer], list[RemoteJwksSource]]:
    """Key sources of every auth server; remote JWKS sources are returned to be started later.

    ``extra`` adds sources by server id or, when no server has that id, by name (applications' HMAC
    strategy secrets name their server by ``authServerAlias``; the vendor uses names). Any server whose
    issuer is this gateway's own verifies with the keyring directly. ``reuse`` holds the running
    remote sources of the previous runtime: an unchanged one is kept, keys and all, so a reload never
    leaves a window without keys.
    """
    extra = extra or {}
    reuse = reuse or {}
    built: list[BuiltServer] = []
    remotes: list[RemoteJwksSource] = []
    own_issuer = settings.issuer.issuer if settings.issuer else None
    servers = list(settings.security.auth_servers)
    if own_issuer and not any(s.id == LOCAL_SERVER_ID for s in servers):
        servers.append(_implicit_local(own_issuer))
    ids = {s.id for s in servers}
    by_name: dict[str, list] = {}
    for server in servers:
        if server.name != server.id and server.name not in ids:
            by_name.setdefault(server.id, []).extend(extra.get(server.name, ()))
    for index, server in enumerate(servers):
        where = f"security_settings.auth_servers[{index}]"
        issuer = server.issuer or (own_issuer if server.id == LOCAL_SERVER_ID else None)
        sources: list = []
        remote = None
        # Our own tokens verify straight from the keyring. A downloaded `local` server of a parent
        # gateway has another issuer (and a jwksuri) and is treated like any third party.
        is_own = keyring is not None and issuer == own_issuer
        if is_own:
            issuer = issuer or own_issuer
            sources.append(KeyringKeySource(keyring))
        elif server.jwks_uri and remote_key(server.jwks_uri, server) in reuse:
            remote = reuse[remote_key(server.jwks_uri, server)]
            remotes.append(remote)
        elif server.jwks_uri:
            try:
                remote = RemoteJwksSource(
                    server.jwks_uri,
                    refresh_interval=server.jwks.refresh_interval,
                    unknown_kid_cooldown=server.jwks.unknown_kid_cooldown,
                    timeout=server.jwks.timeout,
                    max_bytes=server.jwks.max_bytes,
                    ssl_context=client_ssl,
                    allowed_algs=server.algorithms,
                )
            except ValueError as exc:
                raise KeyProblem(f"{where}.localIntrospectionConfig.jwksuri", str(exc)) from None
            remote.reuse_key = remote_key(server.jwks_uri, server)  # type: ignore[attr-defined]
            remotes.append(remote)
        if server.jwks_inline and not is_own:
            inline = _inline_source(server, where)
            sources.append(FallbackKeySource(remote, inline) if remote is not None else inline)
        elif remote is not None:
            sources.append(remote)
        if server.certificate_alias:
            sources.append(_certificate_source(settings, server, where))
        sources.extend(extra.get(server.id, ()))
        sources.extend(by_name.get(server.id, ()))
        if not sources:
            if server.introspection is None:
                log.warning("auth server %r has no keys (no jwksuri, certificate or strategies); it validates nothing", server.id)
            continue
        if not issuer:
            raise KeyProblem(f"{where}.localIntrospectionConfig.issuer", f"auth server {server.id!r} has keys but no issuer; tokens are matched to servers by `iss`")
        built.append(BuiltServer(server, issuer, tuple(sources)))
    return built, remotes


def _implicit_local(issuer: str) -> AuthServerConfig:
    from microgw.config.security import JwksTuning

    return AuthServerConfig(
        id=LOCAL_SERVER_ID, name=LOCAL_SERVER_ID, issuer=issuer, jwks_uri=None, truststore_alias=None,
        certificate_alias=None, clock_skew=None, algorithms=None, jwks=JwksTuning(), introspection=None, token_generator=None,
    )


def _inline_source(server: AuthServerConfig, where: str) -> StaticKeySource:
    import json

    try:
        keys = parse_jwks(json.dumps(server.jwks_inline).encode(), source=f"inline jwks of {server.id}", allowed_algs=server.algorithms)
    except JwksError as exc:
        raise KeyProblem(f"{where}.jwks_inline", str(exc)) from None
    return StaticKeySource(keys, f"inline jwks of {server.id}")


def _certificate_source(settings: Settings, server: AuthServerConfig, where: str) -> StaticKeySource:
    alias = server.truststore_alias or "default"
    store = settings.truststores.get(alias)
    if store is None:
        raise KeyProblem(f"{where}.localIntrospectionConfig.trustStoreAlias", f"no truststore with alias {alias!r}")
    try:
        certs = load_truststore(store.type, store.location, store.password)
    except StoreError as exc:
        raise KeyProblem(f"{where}.localIntrospectionConfig.trustStoreAlias", str(exc)) from None
    cert = certs.get(server.certificate_alias)
    if cert is None:
        raise KeyProblem(
            f"{where}.localIntrospectionConfig.certificateAlias",
            f"truststore {alias!r} has no certificate {server.certificate_alias!r} (has: {', '.join(sorted(certs))})",
        )
    try:
        return StaticKeySource.from_certificate(cert, source=f"certificate {server.certificate_alias}", allowed_algs=server.algorithms)
    except ValueError as exc:
        raise KeyProblem(f"{where}.localIntrospectionConfig.certificateAlias", str(exc)) from None
