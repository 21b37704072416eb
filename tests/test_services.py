"""The services CI provides are used for real: these fail under CI=true when one is missing."""
import pytest
import redis
from django.db import connection
from kombu import Connection

from tests.services import RABBITMQ, REDIS


@pytest.mark.postgres
@pytest.mark.django_db
def test_suite_runs_on_postgresql():
    with connection.cursor() as cursor:
        cursor.execute("select current_setting('server_version_num')::int")
        (version,) = cursor.fetchone()
    assert connection.vendor == "postgresql"
    assert version >= 130000


@pytest.mark.redis
def test_redis_answers():
    client = redis.Redis.from_url(REDIS.url, socket_timeout=2)
    assert client.ping() is True


@pytest.mark.rabbitmq
def test_rabbitmq_accepts_a_connection():
    with Connection(RABBITMQ.url, connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1)
        assert conn.connected is True
