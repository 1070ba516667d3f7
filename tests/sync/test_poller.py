"""The parent sync survives anything a download throws: the start goes on, polling goes on."""

from __future__ import annotations

from microgw.config.model import ParentConfig
from microgw.sync import poller
from microgw.sync.poller import ParentSync


class Exploding:
    """A client whose download fails in a way nobody foresaw."""

    base = "http://parent:1/"
    warnings: list = []

    async def download(self):
        raise KeyError("surprise")


def sync(tmp_path) -> ParentSync:
    config = ParentConfig(url="http://parent:1", user=None, password=None, download=True, apis=None, applications=True, polling_interval=1)
    parent_sync = ParentSync(None, config, str(tmp_path))
    parent_sync.client = Exploding()
    return parent_sync


async def test_unexpected_errors_are_failed_downloads(tmp_path, monkeypatch):
    monkeypatch.setattr(poller, "START_ATTEMPTS", 1)
    parent_sync = sync(tmp_path)
    assert await parent_sync.initial() is None
    assert parent_sync.last_error == "unexpected error while downloading (KeyError)"
    assert await parent_sync.poll_once() is False
    assert parent_sync.state == "parent unreachable; serving the last good settings"


async def test_a_failing_apply_does_not_end_polling(tmp_path):
    class Gateway:
        async def apply_download(self, document):
            raise RuntimeError("bug")

    parent_sync = sync(tmp_path)
    parent_sync.gateway = Gateway()

    async def download():
        return {"apis": []}

    parent_sync.client.download = download
    assert await parent_sync.poll_once() is False
    assert parent_sync.last_error == "unexpected error while polling (RuntimeError)"
    assert not parent_sync.store.path.exists()  # nothing accepted, nothing kept
