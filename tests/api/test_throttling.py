"""A rate per token: past it, 429 with Retry-After; other tokens go on. The count lives in
the shared cache (Redis through CACHE_URL), and in memory while Redis is away."""

import uuid
from unittest import mock

from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.test import override_settings
from redis.exceptions import ConnectionError as RedisConnectionError

from memberrequests import throttle

from ..services import REDIS_URL, require_redis
from .helpers import ApiTestCase, make_token

THREE_A_MINUTE = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_token": "3/minute"}}


@override_settings(REST_FRAMEWORK=THREE_A_MINUTE)
class ThrottleTests(ApiTestCase):
    def calls(self, n: int, secret=None) -> list:
        return [self.call("GET", "/api/v1/mailboxes/", secret=secret) for _ in range(n)]

    def test_it_answers_429_with_retry_after_past_the_rate(self):
        *allowed, refused = self.calls(4)
        self.assertEqual([r.status_code for r in allowed], [200, 200, 200])
        problem = self.assertProblem(refused, 429, code="throttled")
        self.assertTrue(1 <= int(refused["Retry-After"]) <= 60, refused["Retry-After"])
        self.assertIn(f"réessayez dans {refused['Retry-After']} s", problem["detail"])

    def test_it_counts_each_token_apart(self):
        self.calls(4)
        self.assertEqual(self.calls(1, secret=make_token("autre"))[0].status_code, 200)

    def test_it_counts_in_memory_while_the_shared_cache_is_away(self):
        down = mock.patch.object(throttle.cache, "add", side_effect=RedisConnectionError("x"))
        with down, self.assertLogs("memberrequests.throttle", "ERROR"):
            statuses = [r.status_code for r in self.calls(4)]
        throttle._shared_cache_down_until = 0.0
        self.assertEqual(statuses, [200, 200, 200, 429])

    def test_it_counts_in_redis(self):
        require_redis()
        # A prefix of its own: a rerun within the minute may give the token the same id.
        redis_cache = RedisCache(REDIS_URL, {"KEY_PREFIX": uuid.uuid4().hex})
        try:
            with mock.patch.object(throttle, "cache", redis_cache):
                statuses = [r.status_code for r in self.calls(4)]
        finally:  # tests/test_worker.py waits until no other client uses this database
            for pool in redis_cache._cache._pools.values():
                pool.disconnect()
        self.assertEqual(statuses, [200, 200, 200, 429])
