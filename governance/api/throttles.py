"""Request rates per user and per anonymous address, counted in the shared default cache.

A fixed window per caller, opened by its first request: a counter under DRF's key
(`throttle_<scope>_<ident>`) that expires with the window. On Redis, one round trip sends counts
(a small Lua script: INCRBY, the expiry on the window's first count, the time left) instead of
DRF's get and set of a pickled list of timestamps. Other caches (files, in development) keep
(window end, count) with a get and a set, as DRF did: not atomic between processes.

Each process sends its counts in batches: each request's at once while the rate is below 100 a
window (then exact); else it holds up to `rate // 100` counts (at most 100) and sends them with
the next request once that many are held or 1 s has passed. It admits a request while the last
count the cache gave it plus the counts it holds stays within the rate. Trade-offs, with their
bounds: within one window at most the rate plus one batch per process (1 % of the rate, at most
100 requests) are admitted; a caller whose bursts straddle two windows may get up to twice the
rate within one duration (DRF's sliding log allowed exactly the rate).

The answer is DRF's: a 429 with `Retry-After`, the seconds until the window ends.
"""
from __future__ import annotations

import math
import threading
import time

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework import throttling

# KEYS[1] the counter, ARGV[1] the window in ms, ARGV[2] the requests to add -> {count, ms left}. A value left by DRF's
# throttle (a pickled list) is not a number: it is replaced by a new window.
_WINDOW_COUNT = """
local n = redis.pcall('INCRBY', KEYS[1], ARGV[2])
if type(n) ~= 'number' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
  return {tonumber(ARGV[2]), tonumber(ARGV[1])}
end
local left = redis.call('PTTL', KEYS[1])
if n == 1 or left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {n, left}
"""


def window_count(key: str, duration: int, now: float, requests: int = 1) -> tuple[int, float]:
    """Count `requests` in `key`'s window of `duration` seconds in the shared cache: (requests
    in the window including these, seconds until the window ends)."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(write=True)
        script = getattr(cache, "_api_window_script", None)
        if script is None:
            script = cache._api_window_script = client.register_script(_WINDOW_COUNT)
        count, left_ms = script(keys=[cache.make_and_validate_key(key)], args=[duration * 1000, requests],
                                client=client)
        return int(count), left_ms / 1000
    window_end, count = cache.get(key) or (0.0, 0)
    if window_end <= now:
        window_end, count = now + duration, 0
    count += requests
    cache.set(key, (window_end, count), math.ceil(window_end - now))
    return count, window_end - now


BATCH_MAX, BATCH_SECONDS = 100, 1.0


class _Window:
    """One key's window as this process knows it."""

    __slots__ = ("counted", "ends", "unsent", "sent_at")

    def __init__(self) -> None:
        self.counted, self.ends, self.unsent, self.sent_at = 0, 0.0, 0, 0.0


_windows: dict[str, _Window] = {}
_windows_lock = threading.Lock()


def window_admit(key: str, rate: int, duration: int, now: float) -> tuple[bool, float]:
    """Count one request of `key` (see the module's docstring): (admitted, seconds until its
    window ends)."""
    batch = min(BATCH_MAX, rate // 100)
    clock = time.monotonic()
    where = caches["default"].make_key(key)  # the cache's own prefix: another cache, another count
    with _windows_lock:
        window = _windows.get(where)
        if window is None:
            if len(_windows) > 100000:  # bounded: forgetting only sends sooner
                _windows.clear()
            window = _windows[where] = _Window()
        if clock >= window.ends:
            window.counted = 0
        window.unsent += 1
        if window.unsent <= batch and clock - window.sent_at < BATCH_SECONDS and clock < window.ends:
            return window.counted + window.unsent <= rate, window.ends - clock
        unsent, window.unsent, window.sent_at = window.unsent, 0, clock
    counted, left = window_count(key, duration, now, unsent)
    with _windows_lock:
        window.counted, window.ends = counted, clock + left
        return counted + window.unsent <= rate, left


class _WindowThrottle:
    """A fixed window in place of SimpleRateThrottle's sliding log (same rates, keys, answer)."""

    def allow_request(self, request, view) -> bool:
        request._throttles_counted = True  # see refused_request_admit
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        return True if self.key is None else self.allow_key(self.key)

    def allow_key(self, key: str) -> bool:
        self.now = self.timer()
        admitted, self.left = window_admit(key, self.num_requests, self.duration, self.now)
        return admitted

    def wait(self) -> float:
        return self.left


class AnonRateThrottle(_WindowThrottle, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(_WindowThrottle, throttling.UserRateThrottle):
    pass


def refused_request_admit(request) -> float | None:
    """Count a request refused before DRF's throttles ran (DRF checks authentication and
    permissions first): unauthenticated, by its address at the anonymous rate; authenticated
    without the role, by its user at the user rate. Else a stream of bad tokens would never
    be throttled. Returns the seconds to wait when over the rate, else None."""
    if getattr(request, "_throttles_counted", False):
        return None
    # the user as authenticated (DRF keeps it in _user); request.user would authenticate again,
    # and raise again when the credentials were refused
    user = getattr(request, "_user", None)
    if user is not None and user.is_authenticated:
        throttle, ident = UserRateThrottle(), user.pk
    else:
        throttle = AnonRateThrottle()
        ident = throttle.get_ident(request)
    if throttle.rate is None:
        return None
    admitted = throttle.allow_key(throttle.cache_format % {"scope": throttle.scope, "ident": ident})
    return None if admitted else throttle.wait()
