"""Rollouts carried by a real Celery worker over a real broker (never eager: eager mode hides
serialization and transaction bugs)."""
from decimal import Decimal as D
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
    # tier 2 at 600,000: MM 600,000 x 0.005 - 50 = 2,950 -> 600,000 x 0.0055 - 75 = 3,225 against margins
    # 3,000 + 100 i: at or below 3,225 liquidatable, at or below 3,225 / 0.8 = 4,031.25 a margin call
    assert set(Position.objects.values_list("maintenance_margin", flat=True)) == {D("3225")}
    expected = sorted([(f"A{i}", "margin_call", "liquidatable") for i in (0, 1, 2)] +
                      [(f"A{i}", "healthy", "margin_call") for i in (7, 8, 9, 10)])
    events = MarginEvent.objects.filter(rollout=rollout).values_list("position__account__code", "old_status",
                                                                     "new_status")
    assert (sorted(events), rollout.events) == (expected, 7)  # each change once
