"""Rollouts carried by a real Celery worker over a real broker (never eager: eager mode hides
serialization and transaction bugs)."""
from pathlib import Path

import pytest
from django.conf import settings

from governance.parameters.demo import demo_rules_bootstrap, demo_users_ensure
from governance.positions import services
from governance.positions.models import MarginEvent, Position, Rollout
from tests.positions.test_services import activate_btc, row
from tests.parameters.conftest import contract_text, edit
from tests.services import RABBITMQ, REDIS
from tests.workers import wait_until, worker_running

# the worker and the test share the database across connections: SQLite's shared in-memory
# test database locks whole tables, so these run on PostgreSQL, as production does
pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("broker", [pytest.param(REDIS, marks=pytest.mark.redis, id="redis"),
                                    pytest.param(RABBITMQ, marks=pytest.mark.rabbitmq, id="rabbitmq")])
@pytest.mark.django_db(transaction=True)
def test_an_activation_is_rolled_out_by_the_worker_in_chunks(broker, settings):
    settings.ROLLOUT_CHUNK_SIZE = 7
    with worker_running(broker.url):
        demo_users_ensure()
        demo_rules_bootstrap(rules_dir=Path(settings.RULES_DIR))
        services.positions_upsert(rows=[row(f"A{i}", isolated_margin=str(3000 + 100 * i)) for i in range(30)])
        version = activate_btc(edit(contract_text(), "maintenance_margin_rate: 0.005\n",
                                    "maintenance_margin_rate: 0.0055\n"))
        rollout = Rollout.objects.get(contract_version=version)
        wait_until(lambda: Rollout.objects.get(pk=rollout.pk).state == "completed",
                   what=f"the worker on {broker.name} to complete the rollout")
    rollout.refresh_from_db()
    assert (rollout.chunks_total, rollout.chunks_done, rollout.positions_done) == (5, 5, 30)
    assert set(Position.objects.values_list("contract_version_id", flat=True)) == {version.pk}
    changed = MarginEvent.objects.filter(rollout=rollout)
    assert changed.count() == len(set(changed.values_list("position_id", flat=True)))  # each change once
