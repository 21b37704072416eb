"""Requests over the rate are refused with a 429 in the one error shape, counted in the default
cache, which every web process shares (Redis in production)."""
import time
import uuid

import pytest
import redis
from rest_framework import throttling
from rest_framework.test import APIClient

from tests.api.conftest import token_client
from tests.services import REDIS

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_a_minute(monkeypatch):
    # DRF binds the rates to the throttle classes when it imports them
    monkeypatch.setattr(throttling.SimpleRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "2/min"})


def statuses(client: APIClient, count: int) -> list[int]:
    return [client.get("/api/v1/contracts/").status_code for _ in range(count)]


def test_a_user_over_the_rate_gets_a_429_in_the_one_shape(active_rules, three_a_minute):
    reader = token_client("reader", "consumers")
    assert statuses(reader, 3) == [200, 200, 200]
    refused = reader.get("/api/v1/contracts/")
    assert (refused.status_code, refused.json()) == (429, {
        "code": "throttled", "message": "Request was throttled. Expected available in 60 seconds.",
        "details": None})
    assert refused["Retry-After"] == "60"
    assert statuses(token_client("other", "consumers"), 1) == [200]  # counted per user


def test_logins_are_counted_by_address_so_passwords_cannot_be_tried_fast(db, three_a_minute):
    anonymous = APIClient()
    attempts = [anonymous.post("/api/v1/auth/login/", {"username": "reader", "password": f"guess-{n}"},
                               format="json").status_code for n in range(3)]
    assert attempts == [401, 401, 429]


def test_requests_refused_before_the_throttles_are_counted_too(active_rules, three_a_minute):
    # DRF checks the credentials and the role before its throttles: these were never counted
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Token " + "0" * 64)
    assert statuses(bad_token, 3) == [401, 401, 429]  # by address, at the anonymous rate
    assert statuses(token_client("feeder", "position_service"), 4) == [403, 403, 403, 429]  # by user
    refused = token_client("feeder2", "position_service")
    assert [refused.get("/api/v1/contracts/").status_code for _ in range(3)] == [403, 403, 403]
    assert refused.post("/api/v1/positions/upsert/", {"rows": []}, format="json").status_code == 429


def logins(client: APIClient, forwarded: list[str]) -> list[int]:
    return [client.post("/api/v1/auth/login/", {"username": "reader", "password": "guess"}, format="json",
                        HTTP_X_FORWARDED_FOR=address).status_code for address in forwarded]


def test_a_client_cannot_pick_its_address_with_x_forwarded_for(db, three_a_minute):
    assert logins(APIClient(), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) == [401, 401, 429]


def test_behind_trusted_proxies_the_address_they_forwarded_counts(db, three_a_minute, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}  # API_TRUSTED_PROXIES=1
    # the proxy appends the address it saw; what the client wrote before it does not count
    assert logins(APIClient(), ["6.6.6.6, 10.0.0.1", "7.7.7.7, 10.0.0.2", "8.8.8.8, 10.0.0.1"]) == [401, 401, 401]
    assert logins(APIClient(), ["9.9.9.9, 10.0.0.1"]) == [429]


@pytest.mark.redis
def test_the_counts_are_kept_in_redis_when_the_cache_is_redis(active_rules, three_a_minute, settings):
    prefix = uuid.uuid4().hex
    settings.CACHES = {"default": {"BACKEND": "governance.cache.RedisCache",
                                   "LOCATION": REDIS.url, "KEY_PREFIX": prefix}}
    reader = token_client("reader", "consumers")
    assert statuses(reader, 4) == [200, 200, 200, 429]
    server = redis.Redis.from_url(REDIS.url)
    try:
        keys = server.keys(f"{prefix}:*")
        assert [key.decode().split(":", 2)[2] for key in keys] == [f"throttle_user_{reader_id()}"]
    finally:
        server.delete(*server.keys(f"{prefix}:*"))


def reader_id() -> int:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="reader").pk


@pytest.mark.redis
def test_the_redis_cache_makes_one_client_per_pool_and_works_from_threads():
    from concurrent.futures import ThreadPoolExecutor

    from governance.cache import RedisCache

    cache = RedisCache(REDIS.url, {"KEY_PREFIX": uuid.uuid4().hex})
    cache.set("k", 1)
    assert cache._cache.get_client(write=True) is cache._cache.get_client(write=True)
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(lambda n: cache.incr("k", n), range(1, 101))) and cache.get("k") == 1 + sum(range(1, 101))
    cache.delete("k")


@pytest.mark.redis
def test_counts_are_sent_in_batches_and_overshoot_at_most_a_batch_per_process(settings, monkeypatch):
    """Rate 1000 a window: each process holds at most 10 requests unsent (rate // 100), so two
    processes admit at most 1000 + 2 x 10 in a window, and at least the rate."""
    from governance.api import throttles

    prefix = uuid.uuid4().hex
    settings.CACHES = {"default": {"BACKEND": "governance.cache.RedisCache", "LOCATION": REDIS.url,
                                   "KEY_PREFIX": prefix}}
    sent = []
    real = throttles.window_count
    monkeypatch.setattr(throttles, "window_count", lambda *a, **k: sent.append(a[3]) or real(*a, **k))
    processes = [{}, {}]  # each process's own view of its windows
    admitted = 0
    for n in range(1400):
        monkeypatch.setattr(throttles, "_windows", processes[n % 2])
        admitted += throttles.window_admit("throttle_user_1", 1000, 60, time.time())[0]
    server = redis.Redis.from_url(REDIS.url)
    try:
        assert admitted >= 1000 and admitted <= 1000 + 2 * 10
        assert max(sent) <= 10 + 1 and len(sent) < 1400 / 5  # the ones held and the one that sends them
        assert int(server.get(f"{prefix}:1:throttle_user_1")) == sum(sent)  # every count sent arrives
        assert 0 < server.pttl(f"{prefix}:1:throttle_user_1") <= 60000
    finally:
        server.delete(*server.keys(f"{prefix}:*"))


@pytest.mark.redis
def test_one_round_trip_counts_and_replaces_a_count_left_by_drf(settings):
    from governance.api.throttles import window_count

    prefix = uuid.uuid4().hex
    settings.CACHES = {"default": {"BACKEND": "governance.cache.RedisCache", "LOCATION": REDIS.url,
                                   "KEY_PREFIX": prefix}}
    from django.core.cache import cache

    cache.set("throttle_user_7", [1.0, 2.0], 60)  # DRF's pickled history, from before an upgrade
    server = redis.Redis.from_url(REDIS.url)
    try:
        assert window_count("throttle_user_7", 60, time.time(), 3)[0] == 3
        count, left = window_count("throttle_user_7", 60, time.time())
        assert count == 4 and 59 < left <= 60
        assert server.pttl(f"{prefix}:1:throttle_user_7") > 59000  # the window is not extended by counting
        assert cache.get("throttle_user_7") == 4
    finally:
        server.delete(*server.keys(f"{prefix}:*"))


def test_the_file_cache_counts_a_fixed_window_too(active_rules, three_a_minute):
    reader = token_client("reader", "consumers")
    assert statuses(reader, 4) == [200, 200, 200, 429]
    assert 59 < float(reader.get("/api/v1/contracts/").headers["Retry-After"]) <= 60
