"""Lock order between rollouts and activation, from separate PostgreSQL connections."""
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from governance.parameters.models import Subject
from governance.positions import services
from governance.positions.models import Rollout

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else read once per transaction
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND datname = current_database()")
        return cursor.fetchone()[0]


def test_the_final_step_takes_the_subjects_before_its_rollout_as_activation_does(active_rules):
    rollout = Rollout.objects.create(trigger="manual", symbols=["BTCUSDT"], started_at=timezone.now())
    finished = []

    def finish():
        try:
            finished.append(services.rollout_finish(rollout_id=rollout.pk))
        except Exception as exc:
            finished.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=finish)
    with transaction.atomic():  # an activation: the subject first, then the running rollouts
        Subject.objects.select_for_update().get(key="BTCUSDT")
        thread.start()
        deadline = time.monotonic() + 10
        while lock_waiters() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (lock_waiters(), finished) == (1, [])  # the final step waits for the subject...
        # ...holding no lock on its rollout, so the activation can supersede it: no deadlock
        Rollout.objects.select_for_update(nowait=True).get(pk=rollout.pk)
    thread.join(timeout=30)
    assert [r.state for r in finished] == ["completed"]
