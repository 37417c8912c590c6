"""Counters that slow down whoever posts the public forms too often.

The counts live in Django's cache. Its default backend is local memory, which is per
process: with N application processes a client may get up to N times the limit. Point
CACHES at a shared cache (Redis, Memcached, the database) for strict limits.
"""

import hashlib

from django.core.cache import cache

HOUR = 3600
# (attempts, seconds): how many posts are allowed in a window that starts at the first one.
PER_IP = (10, HOUR)  # each public form, per client IP
PER_ADDRESS = (3, HOUR)  # per mail address (forgotten password) or personal email (new address)


def throttle_allows(*, scope: str, key: str, limit: tuple[int, int]) -> bool:
    """Count one attempt; False once `limit` attempts were already seen in the window."""
    attempts, window = limit
    # A digest: a typed address never sits in the cache as such.
    digest = hashlib.sha256(f"{scope}\0{key.strip().lower()}".encode()).hexdigest()
    cache_key = f"memberrequests:throttle:{digest}"
    cache.add(cache_key, 0, timeout=window)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add() and incr()
        cache.set(cache_key, 1, timeout=window)
        count = 1
    return count <= attempts
