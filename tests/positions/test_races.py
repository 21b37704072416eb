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


@pytest.fixture
def writer():
    """Another session, to hold a lock while the code under test runs; closed (its locks
    released) whatever the test's outcome, so no thread of it is left waiting."""
    import psycopg

    db = connection.settings_dict
    session = psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                              dbname=db["NAME"])
    yield session
    session.close()


def row(account, symbol="ETHUSDT", side="short", quantity="2", entry_price="3000", isolated_margin="100"):
    return {"account": account, "symbol": symbol, "side": side, "quantity": quantity, "entry_price": entry_price,
            "isolated_margin": isolated_margin}


def in_thread(fn, out: dict, key: str) -> threading.Thread:
    def run():
        try:
            out[key] = fn()
        except Exception as exc:  # the assertions below say which
            out[key] = exc
        finally:
            connections.close_all()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def waiters_reach(count: int) -> None:
    deadline = time.monotonic() + 20
    while lock_waiters() < count:
        assert time.monotonic() < deadline, f"fewer than {count} transaction(s) waiting for a lock"
        time.sleep(0.02)


def test_a_mark_change_waits_for_a_chunk_still_computing_with_the_old_mark(active_rules, dispatched, writer):
    from governance.positions.models import MarginEvent, MarketData, Position
    from governance.positions.remargin import position_compute
    from governance.positions.terms import terms_current

    services.market_data_upsert(rows=[{"symbol": "BTCUSDT", "mark_price": "60000"},
                                      {"symbol": "ETHUSDT", "mark_price": "3000"}])
    # ETH shorts of 2 at 3000 with 100 of margin: healthy at 3000, liquidatable at 3040
    services.positions_upsert(rows=[row(f"B{i}", "BTCUSDT", "long", "1", "60000", "30000") for i in range(3)] +
                              [row(f"E{i}") for i in range(3)])
    older = services.rollout_start(trigger="manual", symbols=["BTCUSDT", "ETHUSDT"])
    writer.execute("UPDATE positions_position SET updated_at = now() WHERE symbol = 'BTCUSDT'")  # an upsert in flight
    out = {}
    chunk = in_thread(lambda: services.rollout_chunk_apply(chunk_id=older.chunks.get().pk), out, "chunk")
    waiters_reach(1)  # the older rollout's chunk holds the subjects and waits for the BTC rows
    mark = in_thread(lambda: services.market_data_upsert(rows=[{"symbol": "ETHUSDT", "mark_price": "3040"}]),
                     out, "mark")
    try:
        waiters_reach(2)  # the mark change waits for the chunk, instead of committing under it
    finally:
        writer.commit()
    chunk.join(timeout=30)
    mark.join(timeout=30)
    newer, = out["mark"]
    # the older rollout is superseded before its final step: the newer one takes its scope too
    assert (out["chunk"].positions, newer.trigger, newer.symbols) == (6, "mark_price", ["BTCUSDT", "ETHUSDT"])
    for chunk_id in dispatched["chunks"]:
        services.rollout_chunk_apply(chunk_id=chunk_id)
    assert services.rollout_finish(rollout_id=newer.pk).state == "completed"
    terms, marks = terms_current(), dict(MarketData.objects.values_list("symbol", "mark_price"))
    for position in Position.objects.filter(symbol="ETHUSDT").values():
        expected = position_compute(position, terms["ETHUSDT"], marks["ETHUSDT"])
        assert (position["status"], position["margin_balance"], position["rollout_id"]) == (
            expected["status"], expected["margin_balance"], newer.pk) == ("liquidatable", 20, newer.pk)
    assert list(MarginEvent.objects.filter(symbol="ETHUSDT").values_list("old_status", "new_status", "rollout_id")) \
        == [("healthy", "liquidatable", newer.pk)] * 3


def test_two_rollout_starts_at_once_supersede_one_another_in_turn(active_rules, dispatched):
    services.positions_upsert(rows=[row("B1", "BTCUSDT", "long", "1", "60000", "30000"), row("E1")])
    first = services.rollout_start(trigger="manual", symbols=["BTCUSDT", "ETHUSDT"])
    begun, go, out = threading.Event(), threading.Event(), {}

    def start_and_hold():
        with transaction.atomic():
            rollout = services.rollout_start(trigger="mark_price", symbols=["BTCUSDT"])
            begun.set()
            go.wait(30)
        return rollout

    one = in_thread(start_and_hold, out, "btc")
    begun.wait(30)
    other = in_thread(lambda: services.rollout_start(trigger="mark_price", symbols=["ETHUSDT"]), out, "eth")
    try:
        waiters_reach(1)
    finally:
        go.set()
    one.join(timeout=30)
    other.join(timeout=30)
    states = {r.pk: (r.state, r.superseded_by_id) for r in Rollout.objects.filter(pk__gte=first.pk)}
    assert states == {first.pk: ("superseded", out["btc"].pk), out["btc"].pk: ("superseded", out["eth"].pk),
                      out["eth"].pk: ("running", None)}
    assert out["eth"].symbols == ["BTCUSDT", "ETHUSDT"]  # it finishes the job of both


def test_an_activation_elsewhere_does_not_lock_a_rollout_whose_chunk_is_appending_events(active_rules,
                                                                                         dispatched, writer):
    # a chunk holding its rollout's row and numbering its events, a final step of another
    # rollout waiting for the events, and an activation of a third contract: no deadlock
    from governance.positions.models import Position

    services.positions_upsert(rows=[row("B1", "BTCUSDT", "long", "1", "60000", "30000"), row("E1")])
    btc = services.rollout_start(trigger="manual", symbols=["BTCUSDT"])
    services.rollout_chunk_apply(chunk_id=btc.chunks.get().pk)
    Position.objects.filter(symbol="BTCUSDT").update(volatility_band=None, status="liquidatable")  # left behind
    eth = services.rollout_start(trigger="manual", symbols=["ETHUSDT"])
    Position.objects.filter(symbol="ETHUSDT").update(status="liquidatable")  # its chunk has an event to append
    writer.execute("SELECT pg_advisory_xact_lock(7305001)")  # some writer numbering its events a moment
    out = {}
    threads = [in_thread(lambda: services.rollout_chunk_apply(chunk_id=eth.chunks.get().pk), out, "chunk")]
    waiters_reach(1)
    threads.append(in_thread(lambda: services.rollout_finish(rollout_id=btc.pk), out, "finish"))
    waiters_reach(2)

    def activation():  # the locks version_activate takes: its subject, then rollout_start
        with transaction.atomic():
            Subject.objects.select_for_update().get(key="SOLUSDT")
            return services.rollout_start(trigger="contract_version", symbols=["SOLUSDT"])

    threads.append(in_thread(activation, out, "activation"))
    time.sleep(0.5)
    try:  # the activation did not wait for either: done while both still wait
        assert ("activation" in out, lock_waiters()) == (True, 2)
    finally:
        writer.commit()
    for thread in threads:
        thread.join(timeout=30)
    assert (out["chunk"].events, out["finish"].state, out["activation"].symbols) == (1, "completed", ["SOLUSDT"])


def test_resume_leaves_alone_a_chunk_a_worker_is_doing(active_rules, dispatched, writer):
    from datetime import timedelta

    from governance.positions.models import RolloutChunk

    rollout = Rollout.objects.create(trigger="manual", symbols=["BTCUSDT"],
                                     started_at=timezone.now() - timedelta(hours=1))
    doing, lost = (RolloutChunk.objects.create(rollout=rollout, first_id=a, last_id=a + 9) for a in (1, 11))
    # the lock rollout_chunk_apply holds on its chunk while it computes
    writer.execute("SELECT id FROM positions_rolloutchunk WHERE id = %s FOR UPDATE", [doing.pk])
    assert services.rollouts_resume(older_than_seconds=60) == 1  # and no wait for the worker
    assert dispatched == {"chunks": [lost.pk], "finish": []}
