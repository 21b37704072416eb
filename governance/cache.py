"""The Redis cache backend, with one client per connection pool.

Django's makes a new redis client for every operation, and building one (its callbacks table)
costs more CPU than the round trip it serves; the API's throttle does two per request. A client
is safe to share between threads: its connections come from the pool.
"""
from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict):
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient
