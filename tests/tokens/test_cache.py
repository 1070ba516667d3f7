"""tokens.cache: bounded LRU whose entries never outlive the token or the max TTL."""

from __future__ import annotations

import pytest

from microgw.tokens.cache import VerifiedTokenCache

NOW = 1_700_000_000.0


def test_hit_and_miss_are_counted():
    cache = VerifiedTokenCache()
    cache.put("t", "value", NOW + 100, now=NOW)
    assert cache.get("t", now=NOW + 1) == "value"
    assert cache.get("other", now=NOW) is None
    assert (cache.hits, cache.misses) == (1, 1)


def test_entry_expires_with_the_token():
    cache = VerifiedTokenCache()
    cache.put("t", "value", NOW + 10, now=NOW)
    assert cache.get("t", now=NOW + 9.99) == "value"
    assert cache.get("t", now=NOW + 10) is None
    assert len(cache) == 0  # expired entries are dropped, not kept


def test_entry_never_outlives_max_ttl():
    cache = VerifiedTokenCache(max_ttl=30)
    cache.put("long", "v", NOW + 86400, now=NOW)
    cache.put("no-exp", "v", None, now=NOW)
    assert cache.get("long", now=NOW + 29) == "v"
    assert cache.get("long", now=NOW + 30) is None
    assert cache.get("no-exp", now=NOW + 30) is None


def test_least_recently_used_entry_is_evicted():
    cache = VerifiedTokenCache(max_entries=2)
    cache.put("a", 1, NOW + 100, now=NOW)
    cache.put("b", 2, NOW + 100, now=NOW)
    assert cache.get("a", now=NOW) == 1  # a is now the most recent
    cache.put("c", 3, NOW + 100, now=NOW)
    assert cache.get("b", now=NOW) is None
    assert cache.get("a", now=NOW) == 1 and cache.get("c", now=NOW) == 3
    assert len(cache) == 2


def test_put_replaces_and_clear_empties():
    cache = VerifiedTokenCache()
    cache.put("a", 1, NOW + 100, now=NOW)
    cache.put("a", 2, NOW + 100, now=NOW)
    assert cache.get("a", now=NOW) == 2 and len(cache) == 1
    cache.clear()
    assert len(cache) == 0


def test_default_clock_is_wall_time():
    cache = VerifiedTokenCache()
    cache.put("a", 1, expires_at=1.0)  # long expired by the real clock
    assert cache.get("a") is None


@pytest.mark.parametrize("kwargs", [{"max_entries": 0}, {"max_ttl": 0}])
def test_bad_limits_are_refused(kwargs):
    with pytest.raises(ValueError):
        VerifiedTokenCache(**kwargs)
