"""Counters that slow down whoever posts the public forms (and autodiscover) too often.

The counts live in Django's default cache. With CACHE_URL=redis://... every application
process counts in the same Redis, so a limit holds whatever the number of processes; the
embedded default, local memory, counts per process (system check octopus_mail.W001).

When Redis cannot be reached, the count goes on in this process's memory for a while
(SHARED_CACHE_RETRY) and the failure is logged: the limits then hold per process, as with
the local cache, instead of vanishing (fail open) or turning members away (fail closed) for
as long as Redis is down. They slow down mass posting; they guard no secret.
"""

import hashlib
import logging
import time

from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import RedisError

HOUR = 3600
# (attempts, seconds): how many posts are allowed in a window that starts at the first one.
PER_IP = (10, HOUR)  # each public form, per client IP
PER_ADDRESS = (3, HOUR)  # per mail address (forgotten password) or personal email (new address)
SHARED_CACHE_RETRY = 30  # seconds without trying an unreachable shared cache again

log = logging.getLogger(__name__)
_fallback = LocMemCache("memberrequests-throttle-fallback", {})
_shared_cache_down_until = 0.0  # time.monotonic() before which the shared cache is skipped


def throttle_allows(*, scope: str, key: str, limit: tuple[int, int]) -> bool:
    """Count one attempt; False once `limit` attempts were already seen in the window."""
    attempts, window = limit
    return count(throttle_key(scope, key), window) <= attempts


def throttle_key(scope: str, key: str) -> str:
    # A digest: a typed address never sits in the cache as such.
    digest = hashlib.sha256(f"{scope}\0{key.strip().lower()}".encode()).hexdigest()
    return f"memberrequests:throttle:{digest}"


def count(cache_key: str, window: int) -> int:
    """Count one more attempt under `cache_key` for `window` seconds; the count so far.

    In the shared cache, or in this process's memory while the shared one is unreachable.
    The API's rate per token counts here too (api/throttling.py)."""
    global _shared_cache_down_until
    if time.monotonic() >= _shared_cache_down_until:
        try:
            return _increment(cache, cache_key, window)
        except (RedisError, OSError) as exc:
            _shared_cache_down_until = time.monotonic() + SHARED_CACHE_RETRY
            log.error(
                "Shared cache unreachable (%s: %s): rate limits count per process for %d s",
                type(exc).__name__, exc, SHARED_CACHE_RETRY,
            )  # fmt: skip
    return _increment(_fallback, cache_key, window)


def _increment(store, cache_key: str, window: int) -> int:
    store.add(cache_key, 0, timeout=window)
    try:
        return store.incr(cache_key)
    except ValueError:  # expired between add() and incr()
        store.set(cache_key, 1, timeout=window)
        return 1
