"""A rate per token, counted in Django's default cache (Redis through CACHE_URL, shared by
every process): a fixed window, one atomic increment per call, `Retry-After` until it ends.

When Redis cannot be reached the count goes on in this process's memory for a while, as the
public pages' limits do (memberrequests/throttle.py): it slows a runaway script, it guards
no secret.
"""

import math
import time

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from memberrequests import throttle


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
        return throttle.count(f"{key}:{window}", self.duration + 1) <= self.num_requests

    def wait(self) -> int:
        return max(1, math.ceil(self.wait_seconds))
