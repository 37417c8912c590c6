"""A rate per token, counted in Django's default cache (Redis through CACHE_URL, shared by
every process): a fixed window, one atomic increment per call, `Retry-After` until it ends.

When Redis cannot be reached the count goes on in this process's memory for a while, as the
public pages' limits do (memberrequests/throttle.py): it slows a runaway script, it guards
no secret.
"""

import logging
import math
import time

from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

SHARED_CACHE_RETRY = 30  # seconds without trying an unreachable shared cache again

log = logging.getLogger(__name__)
_fallback = LocMemCache("api-throttle-fallback", {})
_shared_cache_down_until = 0.0


class TokenRateThrottle(SimpleRateThrottle):
    scope = "api_token"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]  # read now: tests change it

    def get_cache_key(self, request, view):
        token = request.auth
        return None if token is None else f"api:throttle:{token.pk}"

    def allow_request(self, request, view) -> bool:
        key = self.get_cache_key(request, view)
        if key is None or self.rate is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        self.wait_seconds = (window + 1) * self.duration - now
        return _count(f"{key}:{window}", self.duration) <= self.num_requests

    def wait(self) -> int:
        return max(1, math.ceil(self.wait_seconds))


def _count(key: str, window: int) -> int:
    global _shared_cache_down_until
    if time.monotonic() >= _shared_cache_down_until:
        try:
            return _increment(cache, key, window)
        except (RedisError, OSError) as exc:
            _shared_cache_down_until = time.monotonic() + SHARED_CACHE_RETRY
            log.error(
                "Shared cache unreachable (%s: %s): API rates count per process for %d s",
                type(exc).__name__, exc, SHARED_CACHE_RETRY,
            )  # fmt: skip
    return _increment(_fallback, key, window)


def _increment(store, key: str, window: int) -> int:
    store.add(key, 0, timeout=window + 1)
    try:
        return store.incr(key)
    except ValueError:  # expired between add() and incr()
        store.set(key, 1, timeout=window + 1)
        return 1
