"""Benchmark: the consumer API under gunicorn on loopback, loaded by wrk, against a bare Django view.

Sets up its own database (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/governance_bench_api:
created if missing, migrated), the rules/ contracts active through the workflow (`demo_setup`'s
bootstrap: the analyst drafts and submits, alice and bob approve, alice activates), one market-data
row for the contract, and a fresh knox token for the demo `consumer` (its earlier tokens deleted:
knox reads all of a user's tokens on every request). The throttling counters go to a shared Redis
cache (CACHE_URL, default redis://127.0.0.1:6379/13, flushed first) with the user rate raised
(API_THROTTLE_USER, default 1000000/s) so the bench is not throttled; the throttle still runs.

Then gunicorn (`--worker-class gthread`, by default 2 workers x 4 threads on this 2-core machine:
one process per core, threads to overlap the database and Redis round trips, keep-alive so the
load tool's connections are reused; no access log) listens on a free 127.0.0.1 port, and wrk
loads, with the same connections, threads and duration, after a warm-up of each URL:

- (a) GET /api/v1/contracts/{symbol}/ with the token: one contract's active parameters (200);
- (b) the same with If-None-Match: the ETag of (a) (304, no body built);
- (c) GET /healthz: a bare Django view returning a constant JSON body (200), the floor.

Every run is checked: a non-2xx/3xx response, a socket error or timeout, or responses whose mean
size is not the size of the expected one (a 200 where a 304 was expected, say) fail the run
(exit 1), so a throttled or broken run cannot pass as fast. wrk's percentiles are read exactly
from its latency histogram by a Lua `done()` hook (no per-request Lua).

After the load, the token is revoked (logout) and (a) and (b) must then be a 401 from every worker
within REVOCATION_SECONDS: whatever a worker remembers, a revoked token is refused.

The last line: rps and p50/p99 of each, and the ratios (a)/(c) and (b)/(c).
Targets: (a) at least 0.7 of (c), (b) at least 0.9 of (c). Usage:
python bench/api.py [--duration S] [--connections N] [--wrk-threads N] [--workers N] [--threads N]
                    [--symbol BTCUSDT] [--fresh]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import database_ensure, say  # noqa: E402 (bench/, the script's own folder)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/governance_bench_api"
DEFAULT_CACHE_URL = "redis://127.0.0.1:6379/13"
LOG_DIR = ROOT / "var" / "bench"
TARGET_A, TARGET_B = 0.7, 0.9
REVOCATION_SECONDS = 0.5  # the workers learn of a logout by a PostgreSQL notification: well under this

# Printed by wrk at the end of a run, as one JSON line: exact percentiles from its histogram.
WRK_SCRIPT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nBENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


# --- data ---------------------------------------------------------------------------------

def data_ensure(symbol: str) -> str:
    """rules/ active through the workflow, market data for `symbol`, a fresh consumer token."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    from governance.parameters.demo import demo_rules_bootstrap, demo_users_ensure
    from governance.positions.models import MarketData
    from governance.positions.services import market_data_upsert
    from governance.positions.terms import terms_current

    demo_users_ensure()
    activated = demo_rules_bootstrap(rules_dir=Path(settings.RULES_DIR))
    active = terms_current()
    if symbol not in active:
        sys.exit(f"bench: no active parameters for {symbol!r} (active: {', '.join(sorted(active))})")
    if not MarketData.objects.filter(symbol=symbol).exists():
        market_data_upsert(rows=[{"symbol": symbol, "mark_price": "60000", "realized_volatility": "0.45"}])
    consumer = get_user_model().objects.get(username="consumer")
    AuthToken.objects.filter(user=consumer).delete()
    _, token = AuthToken.objects.create(user=consumer)
    say(f"contracts: {len(active)} active ({len(activated)} activated now); token for 'consumer' "
        f"(roles {', '.join(sorted(g.name for g in consumer.groups.all()))})")
    return token


# --- server -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_raw(port: int, path: str, headers: dict[str, str],
             method: str = "GET") -> tuple[int, dict[str, str], bytes, int]:
    """One keep-alive request (a GET as wrk sends it): status, headers, body and the response's size on the wire."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items()),
             *(["Content-Length: 0"] if method != "GET" else [])]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed before the headers of {path}")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        got = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        length = int(got.get("content-length", "0"))
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(status_line.split()[1]), got, body, len(head) + 4 + len(body)


@contextmanager
def gunicorn_running(*, port: int, workers: int, threads: int, env: dict[str, str], log: Path):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        sys.exit("bench: gunicorn is not installed in this venv: .venv/bin/pip install -r requirements-dev.txt")
    command = [str(gunicorn), "governance.wsgi:application", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
               "--keep-alive", "30", "--no-control-socket", "--log-level", "warning",
               "--error-logfile", str(log)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                sys.exit(f"bench: gunicorn exited at start (code {proc.returncode}); see {log}")
            try:
                if http_raw(port, "/healthz", {})[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit(f"bench: gunicorn did not answer /healthz within 60 s; see {log}")
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # graceful: the arbiter stops its workers, then itself
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- load ---------------------------------------------------------------------------------

def wrk_run(*, url: str, headers: dict[str, str], duration: int, connections: int, threads: int,
            script: Path, log: Path | None, server: int | None = None) -> dict:
    """One wrk run: its figures, and the CPU time per request of the server's processes and of wrk."""
    command = ["wrk", "--latency", "-d", f"{duration}s", "-c", str(connections), "-t", str(threads),
               "--timeout", "5s", "-s", str(script)]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    command.append(url)
    before = {k: {pid: cpu_seconds([pid]) for pid in v} for k, v in server_pids(server).items()} if server else {}
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True)
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # per process: a database backend opened during the run counts whole; one closed during it
    # (DATABASE_CONN_MAX_AGE) is lost, hence the longer connection age the server is given
    cpu = {k: sum(max(0.0, cpu_seconds([pid]) - before[k].get(pid, 0.0)) for pid in v)
           for k, v in server_pids(server).items()} if server else {}
    cpu["wrk"] = (wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime)
    if log is not None:
        log.write_text(" ".join(command[:-1] + [url]).replace(headers.get("Authorization", "\0"), "Token ...")
                       + "\n\n" + done.stdout + done.stderr)
    if done.returncode != 0:
        sys.exit(f"bench: wrk failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    match = re.search(r"^BENCH_JSON (\{.*\})$", done.stdout, flags=re.M)
    if not match:
        sys.exit(f"bench: no figures in wrk's output:\n{done.stdout}")
    figures = json.loads(match.group(1))
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    figures["cpu_us"] = {k: v / max(1, figures["requests"]) * 1e6 for k, v in cpu.items()}
    return figures


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes so far (those that are gone count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def server_pids(master: int) -> dict[str, list[int]]:
    """The processes that serve a request: gunicorn's workers, the database's backends, Redis."""
    from django.core.cache import cache
    from django.db import connection

    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                workers.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        backends = [row[0] for row in cursor.fetchall()]
    try:
        redis = [int(cache._cache.get_client().info("server")["process_id"])]
    except Exception:  # not local, or another client library: leave it out
        redis = []
    return {"gunicorn": workers, "postgres": backends, "redis": redis}


def run_check(name: str, figures: dict, expected_size: int) -> list[str]:
    """What makes a run unusable: errors, or responses that were not the expected ones."""
    problems = []
    errors = {k: figures[k] for k in ("status", "connect", "read", "write", "timeout") if figures[k]}
    if errors:
        problems.append(f"({name}) {figures['requests']} requests with errors: "
                        + ", ".join(f"{v} {'non-2xx/3xx' if k == 'status' else k}" for k, v in errors.items()))
    if figures["requests"] == 0:
        problems.append(f"({name}) no request completed")
    else:
        mean_size = figures["bytes"] / figures["requests"]
        if abs(mean_size - expected_size) > max(4, 0.02 * expected_size):
            problems.append(f"({name}) responses of {mean_size:.0f} bytes on average, expected {expected_size} "
                            f"(the probe's response): not the response being measured")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per URL (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load per URL before measuring (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2: one per core)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--symbol", default="BTCUSDT", help="the contract of (a) and (b) (default BTCUSDT)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure a, b, c this many times, interleaved, and keep each one's median (default 1)")
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database first")
    args = parser.parse_args()

    if not shutil.which("wrk"):
        sys.exit("bench: the load tool wrk is missing; install it with `apt-get install wrk` (Debian package)")

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("CACHE_URL", DEFAULT_CACHE_URL)
    os.environ.setdefault("API_THROTTLE_USER", "1000000/s")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "600")  # no reconnection within a run
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["CELERY_BROKER_URL"] = ""  # no worker here: setting up runs its (empty) rollouts in process
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ["DJANGO_SETTINGS_MODULE"] = "governance.settings"
    if not os.environ["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        sys.exit("bench: DATABASE_URL must be a PostgreSQL URL")
    if not os.environ["CACHE_URL"].startswith(("redis://", "rediss://")):
        sys.exit("bench: CACHE_URL must be a Redis URL (the throttle counts on a shared cache)")
    database_ensure(os.environ["DATABASE_URL"], fresh=args.fresh)

    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    token = data_ensure(args.symbol)
    cache.clear()  # the bench's own Redis database: earlier runs' throttle histories
    connections.close_all()
    throttle = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["user"]

    LOG_DIR.mkdir(parents=True, exist_ok=True)
    port = free_port()
    auth = {"Authorization": f"Token {token}"}
    say(f"database {settings.DATABASES['default']['NAME']}, cache {os.environ['CACHE_URL']} (user throttle "
        f"{throttle}), cpus {os.cpu_count()}")
    say(f"gunicorn on 127.0.0.1:{port}: {args.workers} gthread worker(s) x {args.threads} thread(s), keep-alive; "
        f"wrk: {args.connections} connections, {args.wrk_threads} threads, {args.duration} s per URL "
        f"(+{args.warmup} s warm-up), x{args.rounds}")
    with tempfile.TemporaryDirectory() as tmp, \
            gunicorn_running(port=port, workers=args.workers, threads=args.threads, env={**os.environ},
                             log=LOG_DIR / "api-gunicorn.log") as server:
        script = Path(tmp) / "bench.lua"
        script.write_text(WRK_SCRIPT)
        detail_path = f"/api/v1/contracts/{args.symbol}/"
        status, headers, body, size_a = http_raw(port, detail_path, auth)
        if status != 200 or "etag" not in headers:
            sys.exit(f"bench: GET {detail_path} answered {status} {body[:300]!r} (ETag {headers.get('etag')})")
        etag = headers["etag"]
        status_b, _, body_b, size_b = http_raw(port, detail_path, {**auth, "If-None-Match": etag})
        if status_b != 304:
            sys.exit(f"bench: GET {detail_path} with If-None-Match {etag} answered {status_b}, not 304")
        status_c, _, body_c, size_c = http_raw(port, "/healthz", auth)
        if status_c != 200:
            sys.exit(f"bench: GET /healthz answered {status_c}")
        say(f"(a) {detail_path}: 200, {len(body)} bytes of body, ETag {etag}; (b) 304; (c) /healthz: 200 {body_c.decode()}")

        cases = {"a": (detail_path, auth, size_a), "b": (detail_path, {**auth, "If-None-Match": etag}, size_b),
                 "c": ("/healthz", auth, size_c)}
        base = f"http://127.0.0.1:{port}"
        common = dict(connections=args.connections, threads=args.wrk_threads, script=script, server=server.pid)
        for name, (path, headers, _) in cases.items():
            if args.warmup:
                wrk_run(url=base + path, headers=headers, duration=args.warmup, log=None, **common)
        runs: dict[str, list[dict]] = {name: [] for name in cases}
        problems: list[str] = []
        for round_ in range(args.rounds):
            for name, (path, headers, size) in cases.items():
                figures = wrk_run(url=base + path, headers=headers, duration=args.duration,
                                  log=LOG_DIR / f"api-wrk-{name}.log", **common)
                problems += run_check(name, figures, size)
                runs[name].append(figures)
        # after the load: the token still works and the answers are still the expected ones
        for name, (path, headers, _) in cases.items():
            status = http_raw(port, path, headers)[0]
            if status != (304 if name == "b" else 200):
                problems.append(f"({name}) GET {path} answered {status} after the load")
        # a revoked token is refused by every worker, whatever it remembers: log out, then each
        # request (a new connection each, so any worker) must be a 401 once the notification is in
        status = http_raw(port, "/api/v1/auth/logout/", auth, method="POST")[0]
        if status != 204:
            problems.append(f"(revocation) logout answered {status}")
        time.sleep(REVOCATION_SECONDS)
        for path, headers, _ in (cases["a"], cases["b"]):
            statuses = [http_raw(port, path, headers)[0] for _ in range(10 * args.workers)]
            if set(statuses) != {401}:
                problems.append(f"(revocation) GET {path} with the revoked token, {REVOCATION_SECONDS} s after "
                                f"logout: {statuses}")

    def median_run(items: list[dict]) -> dict:
        return sorted(items, key=lambda f: f["rps"])[len(items) // 2]

    result = {name: median_run(items) for name, items in runs.items()}
    labels = {"a": "contract parameters (200)", "b": "same, If-None-Match (304)", "c": "/healthz, bare Django (200)"}
    say("")
    say(f"{'':4}{'':30}{'req/s':>9}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'max ms':>8}{'requests':>9}{'errors':>7}"
        f"   CPU us/request: {'gunicorn':>8}{'postgres':>9}{'redis':>6}{'wrk':>5}{'all':>6}")
    for name, f in result.items():
        errors = sum(f[k] for k in ("status", "connect", "read", "write", "timeout"))
        cpu = f["cpu_us"]
        say(f"({name}) {labels[name]:30}{f['rps']:9.0f}{f['p50_us'] / 1e3:8.2f}{f['p90_us'] / 1e3:8.2f}"
            f"{f['p99_us'] / 1e3:8.2f}{f['max_us'] / 1e3:8.2f}{f['requests']:9d}{errors:7d}"
            f"{'':18}{cpu.get('gunicorn', 0):8.0f}{cpu.get('postgres', 0):9.0f}{cpu.get('redis', 0):6.0f}"
            f"{cpu['wrk']:5.0f}{sum(cpu.values()):6.0f}")
    a_over_c = result["a"]["rps"] / result["c"]["rps"]
    b_over_c = result["b"]["rps"] / result["c"]["rps"]
    say(f"targets: (a)/(c) >= {TARGET_A}: {'met' if a_over_c >= TARGET_A else 'NOT met'} ({a_over_c:.2f}); "
        f"(b)/(c) >= {TARGET_B}: {'met' if b_over_c >= TARGET_B else 'NOT met'} ({b_over_c:.2f})")
    for problem in problems:
        say(f"error: {problem}")
    say("api: " + " ".join(f"{n}_rps={result[n]['rps']:.0f}" for n in result)
        + f" a_over_c={a_over_c:.2f} b_over_c={b_over_c:.2f} "
        + " ".join(f"{n}_p50_ms={result[n]['p50_us'] / 1e3:.2f} {n}_p99_ms={result[n]['p99_us'] / 1e3:.2f}"
                   for n in result)
        + " " + " ".join(f"{n}_cpu_us={sum(result[n]['cpu_us'].values()):.0f}" for n in result)
        + f" errors={len(problems)}")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
