"""Benchmark: an exchange-wide rollout over 1,000,000 positions, on PostgreSQL, by two Celery workers.

Sets up its own database (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/governance_bench:
created if missing, migrated), the rules/ contracts plus clones of BTCUSDT/ETHUSDT up to
--contracts (all through the workflow), and a synthetic book (`manage.py seed_positions`).
Then, on that book:

- the floor: one plain `UPDATE positions_position SET computed_at = now(), multiplier = multiplier`;
- the rollout: an exchange-wide version (global_multiplier + 0.1) activated through the workflow,
  timed from the activation until every position carries its stamp, carried out by two real
  worker processes (`celery -A governance worker --concurrency 1`, twice) on Redis
  (CELERY_BROKER_URL, default redis://127.0.0.1:6379/14);
- the naive way: load, compute with the engine and `save()` a sample of positions one by one,
  extrapolated per position;
- the impact preview of the first change, computed on the same book.

The floor and the rollout are measured in paired rounds (--rounds, default 3), back to back, each
from the same starting point; on a shared 2-core machine one pair alone moves by +-20% from run
to run. Every round prints its figures and its own ratio; the summary takes the medians.
The last line: rollout positions/s, rollout/UPDATE time (the median of the rounds' ratios and the
largest) and per-row/rollout time per position.
Targets: 1M in under 10 s, within 2x of the single UPDATE, at least 100x the per-row way.

The database runs with `wal_compression` (--wal-compression, default lz4; `off` for the
server's default), set on the bench's database with ALTER DATABASE, so the floor and the
rollout both run under it: what the README recommends for production. A rollout writes
every page of the book, each first as a full-page image after a checkpoint, and on this
machine's disk the WAL's volume, not the CPU, is what two workers wait on.
A book of the right size is reused by the next run: each round moves the multiplier 0.1 again, up from
1 and 1.1, down from 1.2 and above (the rules/ tiers no longer validate at 1.3), so every run
re-margins the whole book with a change of the same size; --fresh drops and recreates the
database. Usage:
python bench/rollout.py [--count N] [--contracts N] [--chunk-size N] [--rounds N] [--fresh]
                        [--seed-path fast|services] [--wal-compression lz4|zstd|pglz|off]
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import database_ensure, say  # noqa: E402 (bench/, the script's own folder)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/governance_bench"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/14"


# --- workers ------------------------------------------------------------------------------

@contextmanager
def workers_running(count: int, env: dict[str, str], log_dir: Path):
    from governance.celery import app

    app.control.purge()  # what an earlier run left in the queue
    log_dir.mkdir(parents=True, exist_ok=True)
    celery = str(Path(sys.executable).with_name("celery"))
    procs = []
    try:
        for i in range(count):
            log = open(log_dir / f"worker{i + 1}.log", "w")
            procs.append(subprocess.Popen(
                [celery, "-A", "governance", "worker", "--concurrency", "1", "--loglevel", "WARNING",
                 "-n", f"bench{i + 1}-{os.getpid()}@%h", "--without-gossip", "--without-mingle"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 90
        names: set[str] = set()
        while len(names) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: only {len(names)} of {count} worker(s) answered; see {log_dir}")
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"bench: a worker exited at start; see {log_dir}")
            names |= {name for reply in app.control.ping(timeout=1.0) for name in reply
                      if name.startswith("bench") and f"-{os.getpid()}@" in name}
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def rollouts_idle(timeout: float = 600) -> None:
    """Wait until no rollout is running (the ones that setting up and seeding started)."""
    from governance.positions.models import Rollout

    deadline = time.monotonic() + timeout
    while Rollout.objects.filter(state=Rollout.State.RUNNING).exists():
        if time.monotonic() > deadline:
            raise SystemExit("bench: rollouts still running after setup; are the workers consuming?")
        time.sleep(0.2)


def previews_idle(version, timeout: float = 900) -> None:
    """Wait until a worker has computed the impact preview that submitting `version` requested.

    Left running, it would hold one of the two workers (and a core) through the start of
    the rollout.
    """
    from governance.positions.models import ImpactPreview

    deadline = time.monotonic() + timeout
    while ImpactPreview.objects.filter(version=version, state=ImpactPreview.State.PENDING).exists():
        if time.monotonic() > deadline:
            say(f"note: the workers' impact preview of version {version.pk} still pending after {timeout:.0f} s")
            return
        time.sleep(0.2)


# --- parameters ---------------------------------------------------------------------------

def users():
    from django.contrib.auth import get_user_model

    User = get_user_model()
    return tuple(User.objects.get(username=n) for n in ("analyst", "alice", "bob"))


def through_workflow(text: str, rationale: str, subject_key: str | None = None):
    """Draft, submit, approvals until the quorum of the change is met: an approved version, ready to activate."""
    from governance.parameters import services
    from governance.parameters.models import VersionState

    analyst, alice, bob = users()
    version = services.version_draft_create(actor=analyst, yaml_text=text, rationale=rationale,
                                            subject_key=subject_key)
    version = services.version_submit(actor=analyst, version=version)
    for member in (alice, bob):  # a loosening needs fewer approvals than a tightening
        if version.state == VersionState.SUBMITTED:
            version = services.version_approve(actor=member, version=version, content_hash=version.content_hash)
    return version


def contracts_ensure(total: int) -> list[str]:
    """rules/ active, plus clones of BTCUSDT and ETHUSDT until `total` contracts are active."""
    from django.conf import settings

    from governance.parameters import services
    from governance.parameters.demo import demo_rules_bootstrap, demo_users_ensure
    from governance.positions.terms import terms_current

    demo_users_ensure()
    demo_rules_bootstrap(rules_dir=Path(settings.RULES_DIR))
    active = sorted(terms_current())
    contracts_dir = Path(settings.RULES_DIR) / "contracts"
    number = 0
    while len(active) < total:
        number += 1
        base = "BTC" if number % 2 else "ETH"
        symbol = f"{base}{number:02d}USDT"
        if symbol in active:
            continue
        text = (contracts_dir / f"{base}USDT.yaml").read_text().replace(f"symbol: {base}USDT\n",
                                                                         f"symbol: {symbol}\n")
        version = through_workflow(text, f"Benchmark clone of {base}USDT.")
        services.version_activate(actor=users()[1], version=version)
        active.append(symbol)
    return sorted(active)[:total] if len(active) > total else sorted(active)


def exchange_change_approved():
    """A new exchange-wide version with global_multiplier 0.1 higher (below 1.2) or lower, approved."""
    from governance.parameters.selectors import exchange_version_active

    current = exchange_version_active()
    match = re.search(r"^global_multiplier: *(\S+)\s*$", current.yaml_text, flags=re.M)
    old = Decimal(match.group(1))
    new = old + Decimal("0.1") if old < Decimal("1.2") else old - Decimal("0.1")
    text = current.yaml_text[:match.start(1)] + str(new) + current.yaml_text[match.end(1):]
    version = through_workflow(text, f"Benchmark: global multiplier {old} -> {new}.", subject_key="exchange")
    return version, old, new


# --- measurements -------------------------------------------------------------------------

def sql(statement: str, params=None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else None


def wal_compression_set(database: str, method: str) -> None:
    """The database's wal_compression, for every session opened from now on (the workers' too)."""
    from django.db import connection, connections

    supported = sql("SELECT enumvals FROM pg_settings WHERE name = 'wal_compression'")[0][0]
    if method not in supported:
        raise SystemExit(f"bench: this PostgreSQL has no wal_compression {method!r} (it has {', '.join(supported)})")
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER DATABASE {connection.ops.quote_name(database)} SET wal_compression = {method}")
    connections.close_all()  # the bench's own session takes it up on reconnecting


def settle() -> None:
    """Same starting point for each measurement: dead rows vacuumed, statistics fresh, dirty pages flushed."""
    sql("VACUUM ANALYZE positions_position")
    sql("CHECKPOINT")


def floor_update() -> float:
    started = time.perf_counter()
    sql("UPDATE positions_position SET computed_at = now(), multiplier = multiplier")
    return time.perf_counter() - started


# The rollout's state is polled every POLL_SECONDS (one primary-key read); the database's activity
# (statements running, lock waits) is sampled every ACTIVITY_EVERY polls only: a scan of
# pg_stat_activity costs a few ms of CPU on the two cores the workers need.
POLL_SECONDS = 0.05
ACTIVITY_EVERY = 10


def rollout_measure(version, timeout: float) -> dict:
    """Activate `version` and poll until every position carries its stamp."""
    from governance.parameters import services
    from governance.positions.models import Position, Rollout

    alice = users()[1]
    samples = waiting = busiest = polls = 0
    waited_by = None
    started = time.perf_counter()
    services.version_activate(actor=alice, version=version)  # the rollout's chunks go out on commit
    dispatched = time.perf_counter() - started
    rollout = Rollout.objects.get(exchange_version=version)
    stamped_at = completed_at = None
    deadline = time.monotonic() + timeout
    while completed_at is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: rollout #{rollout.pk} not done after {timeout:.0f} s "
                             f"({Rollout.objects.get(pk=rollout.pk).chunks_done} of {rollout.chunks_total} chunks)")
        state, done, total = Rollout.objects.filter(pk=rollout.pk).values_list(
            "state", "chunks_done", "chunks_total").get()
        if stamped_at is None and done >= total:
            # the time the check starts: its snapshot already shows every stamp (a scan of the
            # whole book, ~0.4 s at 1M, that is the bench's and not the rollout's)
            checked = time.perf_counter() - started
            if not Position.objects.exclude(exchange_version_id=version.pk).exists():
                stamped_at = checked
        if state != Rollout.State.RUNNING:
            completed_at = time.perf_counter() - started
            if stamped_at is None and not Position.objects.exclude(exchange_version_id=version.pk).exists():
                stamped_at = completed_at
            break
        if polls % ACTIVITY_EVERY == 0:
            active = sql("SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*), "
                         "min(regexp_replace(query, '\\s+', ' ', 'g')) FILTER (WHERE wait_event_type = 'Lock') "
                         "FROM pg_stat_activity WHERE state = 'active' AND datname = current_database() "
                         # a chunk's statement starts with its terms as JSON: track_activity_query_size
                         # (1 kB) cuts it before any table is named
                         "AND (query LIKE '%positions_%' OR query ~ '^WITH\\s+c AS \\(') "
                         "AND pid <> pg_backend_pid()")[0]
            samples += 1
            waiting += 1 if active[0] else 0
            waited_by = waited_by or active[2]
            busiest = max(busiest, active[1] - active[0])
        polls += 1
        time.sleep(POLL_SECONDS)
    rollout.refresh_from_db()
    return {"rollout": rollout, "dispatched": dispatched, "stamped": stamped_at, "completed": completed_at,
            "lock_wait_share": waiting / samples if samples else 0.0, "busiest": busiest, "waited_by": waited_by}


def per_row_measure(sample: int) -> tuple[int, float]:
    """The naive way: each position loaded, computed with the engine and saved on its own."""
    from django.utils import timezone

    from governance.positions.models import MarketData, Position
    from governance.positions.remargin import position_compute
    from governance.positions.terms import terms_current

    total = Position.objects.count()
    step = max(1, total // sample)
    ids = [pk for i, pk in enumerate(Position.objects.order_by("id").values_list("id", flat=True).iterator())
           if i % step == 0][:sample]
    started = time.perf_counter()
    terms = terms_current()
    marks = dict(MarketData.objects.values_list("symbol", "mark_price"))
    now = timezone.now()
    done = 0
    for position in Position.objects.filter(id__in=ids).iterator(chunk_size=2000):
        values = position_compute({"side": position.side, "quantity": position.quantity,
                                   "entry_price": position.entry_price,
                                   "isolated_margin": position.isolated_margin},
                                  terms[position.symbol], marks.get(position.symbol))
        for field, value in values.items():
            setattr(position, field, value)
        position.computed_at = now
        position.save()
        done += 1
    return done, time.perf_counter() - started


def impact_preview_measure(version) -> str:
    from governance.positions.impact import impact_preview_compute

    started = time.perf_counter()
    preview = impact_preview_compute(version=version)
    seconds = time.perf_counter() - started
    return f"impact preview: {seconds:.2f} s for the exchange-wide change ({preview.result['positions']} positions)"


def round_measure(*, count: int, timeout: float, preview: bool, number: int, total: int) -> dict:
    """One paired round: the floor, then the rollout of a new exchange-wide change, each from
    the same starting point (settle()), back to back; their ratio is the round's."""
    from governance.errors import DomainError

    label = f"round {number}/{total}: " if total > 1 else ""
    settle()
    update_s = floor_update()
    say(f"{label}single UPDATE of {count} rows: {update_s:.2f} s ({count / update_s:.0f} rows/s)")
    try:
        version, old, new = exchange_change_approved()
    except DomainError as exc:
        raise SystemExit(f"bench: the exchange-wide change was refused ({exc.message}); "
                         f"run with --fresh to start from global_multiplier 1")
    if preview:
        say(impact_preview_measure(version))
    previews_idle(version)
    settle()
    measured = rollout_measure(version, timeout)
    rollout = measured["rollout"]
    rollout_s = measured["stamped"]
    say(f"{label}rollout #{rollout.pk} (global_multiplier {old} -> {new}): {rollout.positions_done} positions in "
        f"{rollout.chunks_total} chunks; all stamped after {rollout_s:.2f} s "
        f"(activation and dispatch {measured['dispatched']:.2f} s), {rollout.state} after "
        f"{measured['completed']:.2f} s; {rollout.events} margin events; rollout/UPDATE {rollout_s / update_s:.2f}")
    say(f"{label}rollout concurrency: at most {measured['busiest']} statement(s) on the book at once; a lock wait "
        f"in {measured['lock_wait_share']:.0%} of the samples")
    if measured["waited_by"]:
        waited = re.sub(r"^SELECT .*? FROM ", "SELECT ... FROM ", measured["waited_by"])
        say(f"  a statement seen waiting for a lock: {waited[:300]}")
    return {"update_s": update_s, "rollout_s": rollout_s}


# --- the run ------------------------------------------------------------------------------

def book_ensure(*, count: int, symbols: list[str], seed: int, path: str) -> str:
    from django.core.management import call_command

    from governance.positions.models import Position

    existing = Position.objects.count()
    if existing == count and set(Position.objects.values_list("symbol", flat=True).distinct()) == set(symbols):
        return f"book: {count} positions reused (--fresh to seed anew)"
    if existing:
        sql("TRUNCATE positions_marginevent, positions_rolloutchunk, positions_rollout, positions_position, "
            "positions_account, positions_marketdata")
    args = ["--count", str(count), "--seed", str(seed), "--symbols", ",".join(symbols), "--batch", "50000"]
    if path == "fast":
        args.append("--fast")
    started = time.perf_counter()
    call_command("seed_positions", *args)
    seconds = time.perf_counter() - started
    return f"seeding ({path}): {count} positions in {seconds:.1f} s ({count / seconds:.0f} positions/s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="positions (default 1,000,000)")
    parser.add_argument("--contracts", type=int, default=50, help="contracts (default 50: rules/ plus clones)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes, concurrency 1 each (default 2)")
    parser.add_argument("--chunk-size", type=int, help="ROLLOUT_CHUNK_SIZE for this run (default: the setting)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="paired rounds of floor and rollout; the ratio reported is their median (default 3)")
    parser.add_argument("--sample", type=int, default=10_000, help="positions saved one by one (default 10,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seed-path", choices=("fast", "services"), default="fast",
                        help="seed_positions --fast (COPY) or through positions_upsert (default fast)")
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database first")
    parser.add_argument("--timeout", type=float, default=1800, help="give the rollout up after this many seconds")
    parser.add_argument("--wal-compression", default="lz4", choices=("lz4", "zstd", "pglz", "off"),
                        help="the database's wal_compression for this run (default lz4)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("CELERY_BROKER_URL", DEFAULT_BROKER_URL)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    if args.chunk_size:
        os.environ["ROLLOUT_CHUNK_SIZE"] = str(args.chunk_size)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    if not os.environ["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        sys.exit("bench: DATABASE_URL must be a PostgreSQL URL")
    database_ensure(os.environ["DATABASE_URL"], fresh=args.fresh)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    wal_compression_set(settings.DATABASES["default"]["NAME"], args.wal_compression)
    env = {**os.environ}
    say(f"database {settings.DATABASES['default']['NAME']} (wal_compression {sql('SHOW wal_compression')[0][0]}), "
        f"broker {settings.CELERY_BROKER_URL}, {args.workers} worker(s), chunks of {settings.ROLLOUT_CHUNK_SIZE}, "
        f"cpus {os.cpu_count()}")
    with workers_running(args.workers, env, ROOT / "var" / "bench"):
        symbols = contracts_ensure(args.contracts)
        say(f"contracts: {len(symbols)} active")
        say(book_ensure(count=args.count, symbols=symbols, seed=args.seed, path=args.seed_path))
        rollouts_idle()
        count = sql("SELECT count(*) FROM positions_position")[0][0]

        rounds = [round_measure(count=count, timeout=args.timeout, preview=(n == 1), number=n, total=args.rounds)
                  for n in range(1, args.rounds + 1)]

        settle()
        saved, save_s = per_row_measure(args.sample)
        per_row = save_s / saved
        say(f"per-row save(): {saved} positions in {save_s:.2f} s ({per_row * 1e3:.2f} ms per position; "
            f"{per_row * count:.0f} s extrapolated to {count})")

    update_s = statistics.median(r["update_s"] for r in rounds)
    rollout_s = statistics.median(r["rollout_s"] for r in rounds)
    ratios = [r["rollout_s"] / r["update_s"] for r in rounds]
    ratio = statistics.median(ratios)
    per_position = rollout_s / count
    rate = count / rollout_s
    if len(rounds) > 1:
        say(f"over {len(rounds)} rounds (median): single UPDATE {update_s:.2f} s, rollout {rollout_s:.2f} s; "
            f"rollout/UPDATE per round {', '.join(f'{x:.2f}' for x in ratios)}")
    say(f"targets: 1M in < 10 s: {'met' if rate >= 100_000 else 'NOT met'} ({rate:.0f} positions/s); "
        f"<= 2x the UPDATE: {'met' if ratio <= 2 else 'NOT met'} "
        f"(in {sum(x <= 2 for x in ratios)} of {len(ratios)} round(s)); "
        f">= 100x per-row: {'met' if per_row >= 100 * per_position else 'NOT met'}")
    say(f"rollout: positions={count} rounds={len(rounds)} positions_per_second={rate:.0f} "
        f"rollout_over_update={ratio:.2f} rollout_over_update_max={max(ratios):.2f} "
        f"per_row_over_rollout={per_row / per_position:.1f}")

if __name__ == "__main__":
    main()
