"""Faults during a rollout, with real worker processes, brokers and PostgreSQL: a worker killed
with SIGKILL, Redis stopped and restarted, two activations in quick succession. Every time the
book must end on the newest parameters, each position computed as the engine computes it, and
its margin events must chain from its first status to its last with nothing doubled or lost."""
from __future__ import annotations

import shutil
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db.models import Max

from governance.parameters.demo import demo_rules_bootstrap, demo_users_ensure
from governance.positions import services
from governance.positions.models import MarginEvent, MarketData, Position, Rollout
from governance.positions.remargin import position_compute
from governance.positions.terms import terms_current
from tests.parameters.conftest import contract_text, edit
from tests.positions.test_services import activate_btc, row
from tests.services import REDIS, RABBITMQ, unavailable
from tests.workers import wait_until, worker_process

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

POSITIONS = 3000
# margins 2,900 .. 5,899 on 600,000 notional: the tightening moves hundreds of them between statuses
TIGHTER = ("maintenance_margin_rate: 0.005\n", "maintenance_margin_rate: 0.0055\n")
TIGHTEST = ("maintenance_margin_rate: 0.0055\n", "maintenance_margin_rate: 0.006\n")
# an unacknowledged message (of the killed worker) comes back after this many seconds
FAST_REDELIVERY = {"CELERY_VISIBILITY_TIMEOUT": "3", "ROLLOUTS_RESUME_SECONDS": "3"}


@dataclass(frozen=True)
class Book:
    statuses: dict[int, str]
    last_seq: int


@pytest.fixture
def book(settings) -> Book:
    """Rules active and 3,000 BTC positions, computed (eagerly, before any worker runs)."""
    settings.ROLLOUT_CHUNK_SIZE = 25
    demo_users_ensure()
    demo_rules_bootstrap(rules_dir=Path(settings.RULES_DIR))
    services.positions_upsert(rows=[row(f"A{i:04d}", isolated_margin=str(2900 + i)) for i in range(POSITIONS)])
    return Book(dict(Position.objects.values_list("id", "status")),
                MarginEvent.objects.aggregate(last=Max("seq"))["last"] or 0)


def book_check(book: Book) -> None:
    """Every position as the engine computes it with the terms in force, and its events since
    `book` a chain from its status then to its status now."""
    terms = terms_current()
    marks = dict(MarketData.objects.values_list("symbol", "mark_price"))
    wrong = []
    for p in Position.objects.values():
        expected = position_compute(p, terms[p["symbol"]], marks.get(p["symbol"]))
        if any(p[k] != v for k, v in expected.items()):
            wrong.append(p["id"])
    assert wrong == [], f"{len(wrong)} position(s) not as the engine computes them"
    chains = defaultdict(list)
    events = MarginEvent.objects.filter(seq__gt=book.last_seq).order_by("seq")
    for position_id, old, new in events.values_list("position_id", "old_status", "new_status"):
        chains[position_id].append((old, new))
    # the outbox's references carry no database constraint: each is as the statement wrote it
    accounts = dict(Position.objects.values_list("id", "account_id"))
    assert [e for e in events.values_list("position_id", "account_id") if accounts.get(e[0]) != e[1]] == []
    final = dict(Position.objects.values_list("id", "status"))
    for position_id, status in book.statuses.items():
        chain = chains.get(position_id, [])
        walked = status
        for old, new in chain:
            assert old == walked and old != new, f"position {position_id}: events {chain} from {status}"
            walked = new
        assert walked == final[position_id], f"position {position_id}: events {chain} end at {walked}"
    assert not MarginEvent.objects.filter(seq__isnull=True).exists()
    seqs = list(MarginEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # gap-free


_progress_seen: dict[int, str] = {}


def rollout_done(rollout: Rollout) -> bool:
    current = Rollout.objects.get(pk=rollout.pk)
    progress = f"rollout #{current.pk}: {current.state}, {current.chunks_done} of {current.chunks_total} chunks"
    if _progress_seen.get(current.pk) != progress:  # printed when it moves, for a test that times out
        pending = list(current.chunks.filter(done_at__isnull=True).values_list("pk", "attempts"))
        print(f"{progress}; not done (chunk, attempts): {pending}")
        _progress_seen[current.pk] = progress
    return current.state != Rollout.State.RUNNING


@pytest.mark.parametrize("broker", [pytest.param(REDIS, marks=pytest.mark.redis, id="redis"),
                                    pytest.param(RABBITMQ, marks=pytest.mark.rabbitmq, id="rabbitmq")])
def test_a_worker_killed_mid_rollout_and_a_new_one_finish_the_job(book, broker, tmp_path):
    # With beat, as production runs: killed between Redis's BRPOP and recording the message as
    # unacknowledged (kombu's Redis transport), a worker loses the message; beat's
    # rollouts_resume sends its chunk again.
    with worker_process(broker.url, log_path=tmp_path / "worker.log", beat=True, env=FAST_REDELIVERY) as worker:
        version = activate_btc(edit(contract_text(), *TIGHTER))
        rollout = Rollout.objects.get(contract_version=version)
        wait_until(lambda: Rollout.objects.get(pk=rollout.pk).chunks_done >= 10, timeout=60,
                   what="the worker to do some chunks")
        worker.kill()
        rollout.refresh_from_db()
        assert rollout.state == "running" and rollout.chunks_done < rollout.chunks_total == POSITIONS // 25
        worker.start()
        wait_until(lambda: rollout_done(rollout), timeout=90, what="the new worker to finish the rollout")
    rollout.refresh_from_db()
    assert (rollout.state, rollout.chunks_done, rollout.positions_done) == ("completed", 120, POSITIONS)
    assert set(Position.objects.values_list("contract_version_id", flat=True)) == {version.pk}
    assert MarginEvent.objects.filter(rollout=rollout).count() == rollout.events > 0
    book_check(book)


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own (append-only file on, as in production), to stop and restart."""
    port = 6391
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
               "--appendonly", "yes", "--appendfsync", "always", "--save", ""]
    missing = [tool for tool in ("redis-server", "redis-cli") if shutil.which(tool) is None]
    if missing:
        unavailable(f"{' and '.join(missing)} not installed: the Redis restart test runs a Redis server of its own",
                    what="Redis server")

    class Server:
        url = f"redis://127.0.0.1:{port}/0"

        def start(self):
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            wait_until(self.answers, timeout=10, what="redis-server to start")

        def answers(self) -> bool:
            return subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                                  text=True).stdout.strip() == "PONG"

        def stop(self):
            subprocess.run(["redis-cli", "-p", str(port), "shutdown"], capture_output=True)
            self.process.wait(timeout=10)

    server = Server()
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.mark.redis
def test_redis_stopped_and_restarted_mid_rollout(book, own_redis, tmp_path):
    with worker_process(own_redis.url, log_path=tmp_path / "worker.log", beat=True, env=FAST_REDELIVERY):
        version = activate_btc(edit(contract_text(), *TIGHTER))
        rollout = Rollout.objects.get(contract_version=version)
        wait_until(lambda: Rollout.objects.get(pk=rollout.pk).chunks_done >= 10, timeout=60,
                   what="the worker to do some chunks")
        own_redis.stop()
        time.sleep(3)
        assert not rollout_done(rollout)
        own_redis.start()
        wait_until(lambda: rollout_done(rollout), timeout=120, what="the rollout to finish after Redis came back")
    rollout.refresh_from_db()
    assert (rollout.state, rollout.chunks_done, rollout.positions_done) == ("completed", 120, POSITIONS)
    assert set(Position.objects.values_list("contract_version_id", flat=True)) == {version.pk}
    book_check(book)


@pytest.mark.redis
def test_two_activations_in_quick_succession_end_on_the_newer(book, tmp_path):
    with worker_process(REDIS.url, log_path=tmp_path / "worker.log", env=FAST_REDELIVERY):
        first = activate_btc(edit(contract_text(), *TIGHTER))
        second = activate_btc(edit(edit(contract_text(), *TIGHTER), *TIGHTEST))
        wait_until(lambda: not Rollout.objects.filter(state="running").exists(), timeout=90,
                   what="every rollout to finish")
    older, newer = Rollout.objects.get(contract_version=first), Rollout.objects.get(contract_version=second)
    assert newer.state == "completed"
    assert older.state in ("superseded", "completed")
    assert set(Position.objects.values_list("contract_version_id", flat=True)) == {second.pk}
    book_check(book)
