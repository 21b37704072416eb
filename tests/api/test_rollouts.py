"""/api/v1/rollouts/: recent rollouts and the progress of one, chunk by chunk."""
import pytest

from governance.parameters.models import ParameterVersion
from governance.positions import services
from governance.positions.models import Rollout
from tests.api.book import READ_MATRIX, positions_write, reads_check, row, version_activate
from tests.api.conftest import token_client
from tests.parameters.conftest import contract_text, edit

pytestmark = pytest.mark.django_db


def iso(moment) -> str | None:
    return moment and moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def book(active_rules, settings, django_capture_on_commit_callbacks):
    """Five BTCUSDT positions and one ETHUSDT, in chunks of two positions."""
    settings.ROLLOUT_CHUNK_SIZE = 2
    margins = ["3000", "3300", "3700", "3900", "30000"]
    positions_write(django_capture_on_commit_callbacks, *[row(f"A{i}", isolated_margin=m) for i, m in enumerate(margins)],
                    row("A0", symbol="ETHUSDT", quantity="2", entry_price="3000", isolated_margin="100"))


@pytest.fixture
def consumer(active_rules):
    return token_client("reader", "consumers")


def test_the_progress_of_a_rollout_after_an_activation(book, consumer, django_capture_on_commit_callbacks):
    # tier 2 maintenance rate 0.005 -> 0.0055
    text = edit(contract_text(), "maintenance_margin_rate: 0.005\n", "maintenance_margin_rate: 0.0055\n")
    version = version_activate(django_capture_on_commit_callbacks, text)
    rollout = Rollout.objects.get(contract_version=version)
    response = consumer.get(f"/api/v1/rollouts/{rollout.pk}/")
    assert (response.status_code, response.json()) == (200, {
        "id": rollout.pk, "trigger": "contract_version", "state": "completed", "symbols": ["BTCUSDT"],
        "contract_version": 2, "exchange_version": None, "superseded_by": None,
        "positions_total": 5, "positions_done": 5, "chunks_total": 3, "chunks_done": 3,
        # MM 2,950 -> 600,000 x 0.0055 - 75 = 3,225: margin 3,000 goes from margin call to liquidatable,
        # 3,700 and 3,900 from healthy to margin call; 3,300 stays in margin call, 30,000 healthy
        "events": 3, "started_at": iso(rollout.started_at), "finished_at": iso(rollout.finished_at), "detail": ""})
    assert rollout.finished_at is not None


def test_progress_chunk_by_chunk(book, consumer):
    rollout = services.rollout_start(trigger="manual", symbols=["BTCUSDT"])  # not sent to the workers yet
    url = f"/api/v1/rollouts/{rollout.pk}/"
    progress = ("state", "positions_total", "positions_done", "chunks_total", "chunks_done", "finished_at")
    assert [consumer.get(url).json()[k] for k in progress] == ["running", 5, 0, 3, 0, None]
    first, *rest = rollout.chunks.order_by("first_id")
    services.rollout_chunk_apply(chunk_id=first.pk)
    assert [consumer.get(url).json()[k] for k in progress] == ["running", 5, 2, 3, 1, None]
    for chunk in rest:
        services.rollout_chunk_apply(chunk_id=chunk.pk)
    services.rollout_finish(rollout_id=rollout.pk)
    body = consumer.get(url).json()
    assert [body[k] for k in progress[:-1]] == ["completed", 5, 5, 3, 3]
    assert body["finished_at"] is not None and body["trigger"] == "manual"


def test_recent_rollouts_newest_first_in_cursor_pages(book, consumer):
    started = [services.rollout_start(trigger="manual", symbols=["ETHUSDT"]) for _ in range(3)]
    everything = list(Rollout.objects.order_by("-id").values_list("id", flat=True))
    assert everything[:3] == [r.pk for r in reversed(started)]
    seen, url = [], "/api/v1/rollouts/?page_size=4"
    while url:
        body = consumer.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert seen == everything
    # each newer one superseded the one before it (overlapping scope)
    running = consumer.get("/api/v1/rollouts/?state=running&trigger=manual").json()["results"]
    assert [r["id"] for r in running] == [started[-1].pk]
    superseded = consumer.get("/api/v1/rollouts/?state=superseded").json()["results"]
    assert [(r["id"], r["superseded_by"]) for r in superseded] == [(started[1].pk, started[2].pk),
                                                                  (started[0].pk, started[1].pk)]
    response = consumer.get("/api/v1/rollouts/?state=sleeping")
    assert (response.status_code, response.json()["details"]) == (
        400, {"state": ["Select a valid choice. sleeping is not one of the available choices."]})


def test_an_unknown_rollout_is_a_404(active_rules, consumer):
    for missing in (424242, 2 ** 64):
        response = consumer.get(f"/api/v1/rollouts/{missing}/")
        assert (response.status_code, response.json()) == (
            404, {"code": "not_found", "message": f"no rollout {missing}", "details": None})


@pytest.mark.parametrize("roles, status", READ_MATRIX)
def test_who_may_read_rollouts(active_rules, roles, status):
    rollout = Rollout.objects.latest("id")  # the bootstrap's activations started some
    reads_check(["/api/v1/rollouts/", f"/api/v1/rollouts/{rollout.pk}/"], roles, status)
    assert ParameterVersion.objects.filter(state="active").count() == 15
