"""/api/v1/margin-events/: the outbox in seq order, followed by its `next` cursor."""
import pytest
from rest_framework.test import APIClient

from governance.positions.models import MarginEvent, Rollout
from tests.api.book import ANONYMOUS, marks_write, positions_write, read_denied, row
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def moved(active_rules, django_capture_on_commit_callbacks):
    """Four BTCUSDT longs of 10 @ 60,000, healthy at the entry price; the mark then drops to
    59,800 (A3 into margin call, A4 liquidatable) and comes back (both healthy again)."""
    capture = django_capture_on_commit_callbacks
    positions_write(capture, row("A1"), row("A2", isolated_margin="6000"), row("A3", isolated_margin="5500"),
                    row("A4", isolated_margin="4500"))
    assert MarginEvent.objects.count() == 0  # new and healthy is not news
    marks_write(capture, BTCUSDT="59800")
    marks_write(capture, BTCUSDT="60000")


@pytest.fixture
def consumer(active_rules):
    return token_client("reader", "consumers")


def follow(client: APIClient, *, after: int, limit: int) -> tuple[list[dict], int, int]:
    """Every event after the cursor, page by page: (events, the cursor to keep, requests made)."""
    seen, requests = [], 0
    while True:
        body = client.get("/api/v1/margin-events/", {"after": after, "limit": limit}).json()
        requests += 1
        if not body["results"]:
            assert body["next"] == after  # nothing new: ask again with the same cursor
            return seen, after, requests
        seen += body["results"]
        after = body["next"]
        assert after == body["results"][-1]["seq"]


def test_an_event_exactly(moved, consumer):
    body = consumer.get("/api/v1/margin-events/", {"limit": 1}).json()
    event = MarginEvent.objects.order_by("seq").first()
    rollout = Rollout.objects.filter(trigger="mark_price").earliest("id")
    # at 59,800: balance 5,500 - 2,000 = 3,500; MM 598,000 x 0.005 - 50 = 2,940; ratio 0.84 >= 0.8
    assert body == {"next": event.seq, "results": [{
        "seq": event.seq, "position": event.position_id, "account": "A3", "symbol": "BTCUSDT",
        "old_status": "healthy", "new_status": "margin_call", "margin_ratio": "0.84", "contract_version": 1,
        "exchange_version": 1, "rollout": rollout.pk, "at": event.at.isoformat().replace("+00:00", "Z")}]}


def test_following_the_cursor_sees_every_event_once_in_order(moved, consumer, django_capture_on_commit_callbacks):
    everything = list(MarginEvent.objects.order_by("seq").values_list("seq", "position__account__code",
                                                                      "old_status", "new_status"))
    assert [e[1:] for e in everything] == [("A3", "healthy", "margin_call"), ("A4", "healthy", "liquidatable"),
                                           ("A3", "margin_call", "healthy"), ("A4", "liquidatable", "healthy")]
    seen, cursor, requests = follow(consumer, after=0, limit=3)
    assert [(e["seq"], e["account"], e["old_status"], e["new_status"]) for e in seen] == everything
    assert requests == 3  # 3 + 1 + an empty answer
    seqs = [e["seq"] for e in seen]
    assert seqs == list(range(seqs[0], seqs[0] + 4))  # gap-free

    # later events arrive after the kept cursor, and only they
    marks_write(django_capture_on_commit_callbacks, BTCUSDT="59800")
    more, cursor_after, _ = follow(consumer, after=cursor, limit=1)
    assert [(e["seq"], e["account"], e["new_status"]) for e in more] == [
        (cursor + 1, "A3", "margin_call"), (cursor + 2, "A4", "liquidatable")]
    assert cursor_after == cursor + 2


def test_the_cursor_and_limit_are_validated_with_their_location(moved, consumer):
    cases = {
        "after=-1": {"after": ["Ensure this value is greater than or equal to 0."]},
        "after=abc": {"after": ["A valid integer is required."]},
        f"after={2 ** 63}": {"after": ["Ensure this value is less than or equal to 9223372036854775807."]},
        "limit=0": {"limit": ["Ensure this value is greater than or equal to 1."]},
        "limit=10001&after=x": {"after": ["A valid integer is required."],
                                "limit": ["Ensure this value is less than or equal to 10000."]},
    }
    for query, details in cases.items():
        response = consumer.get(f"/api/v1/margin-events/?{query}")
        assert (response.status_code, response.json()) == (
            400, {"code": "invalid_request", "message": "the request is invalid", "details": details})
    beyond = consumer.get(f"/api/v1/margin-events/?after={2 ** 63 - 1}").json()
    assert beyond == {"results": [], "next": 2 ** 63 - 1}


@pytest.mark.parametrize("roles, status", [(["consumers"], 200), (["authors"], 200), (["committee"], 200),
                                           (["emergency"], 200), (["position_service"], 403)])
def test_who_may_follow_the_feed(active_rules, roles, status):
    response = token_client("someone", *roles).get("/api/v1/margin-events/")
    assert response.status_code == status
    assert response.json() == ({"results": [], "next": 0} if status == 200 else read_denied("someone"))
    anonymous = APIClient().get("/api/v1/margin-events/")
    assert (anonymous.status_code, anonymous.json()) == (401, ANONYMOUS)
