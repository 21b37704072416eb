"""The worker's database connection, reused across tasks, is dropped once it has failed."""
import psycopg
import pytest
from django.db import OperationalError, connection

from governance.celery import connections_drop_broken


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_killed_by_the_server_is_replaced_before_the_next_task():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    settings = connection.settings_dict
    with psycopg.connect(host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"],
                         dbname=settings["NAME"], autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connections_drop_broken()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid


@pytest.mark.django_db
def test_a_healthy_connection_is_kept():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    before = connection.connection
    connections_drop_broken()
    assert connection.connection is before
