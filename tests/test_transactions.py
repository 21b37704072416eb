"""A transaction aborted to break a deadlock is run again, then refused as Busy."""
import psycopg
import pytest
from django.db import OperationalError, transaction

from governance.errors import Busy
from governance.transactions import TransientDatabaseError, conflict_retry, transient_marked


def failing(times: int, cause: Exception):
    calls = []

    @conflict_retry(attempts=3)
    def write():
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError(str(cause)) from cause
        return "written"

    return write, calls


def test_a_deadlock_victim_is_run_again():
    write, calls = failing(2, psycopg.errors.DeadlockDetected("deadlock detected"))
    assert (write(), len(calls)) == ("written", 3)


def test_after_the_last_attempt_it_is_busy_and_says_so():
    write, calls = failing(3, psycopg.errors.SerializationFailure("could not serialize access"))
    with pytest.raises(Busy) as error:
        write()
    assert (error.value.message, error.value.http_status, len(calls)) == (
        "concurrent writes collided 3 time(s) (40001); nothing was written: try again", 503, 3)


def test_other_database_errors_are_not_retried():
    write, calls = failing(1, psycopg.errors.AdminShutdown("terminating connection"))
    with pytest.raises(OperationalError, match="^terminating connection$"):
        write()
    assert len(calls) == 1


@pytest.mark.django_db
def test_inside_an_outer_transaction_there_is_nothing_to_run_again():
    write, calls = failing(1, psycopg.errors.DeadlockDetected("deadlock detected"))
    with transaction.atomic(), pytest.raises(Busy, match=r"^concurrent writes collided 1 time\(s\) \(40P01\)"):
        write()
    assert len(calls) == 1


@pytest.mark.parametrize("cause, transient", [
    (psycopg.errors.DeadlockDetected("deadlock detected"), True),
    (psycopg.errors.SerializationFailure("could not serialize access"), True),
    (psycopg.errors.AdminShutdown("terminating connection"), True),
    (psycopg.errors.TooManyConnections("too many clients"), True),
    (psycopg.OperationalError("connection failed"), True),  # no answer from the server: no SQLSTATE
    (psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum"), False),
    (psycopg.errors.ObjectNotInPrerequisiteState("lock not available"), False),
    (psycopg.errors.InternalError_("could not read block"), False),
])
def test_a_task_retries_only_a_database_error_a_retry_can_cure(cause, transient):
    def fail():
        with transient_marked():
            raise OperationalError(str(cause)) from cause

    with pytest.raises(TransientDatabaseError if transient else OperationalError) as error:
        fail()
    if transient:
        assert str(error.value) == f"OperationalError: {cause}" and error.value.__cause__.__cause__ is cause


def test_on_sqlite_only_a_locked_database_is_worth_a_retry(monkeypatch):
    from django.db import connection

    from governance.transactions import error_transient

    monkeypatch.setattr(connection, "vendor", "sqlite")
    assert error_transient(OperationalError("database is locked")) is True
    assert error_transient(OperationalError("too many SQL variables")) is False
