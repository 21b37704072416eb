"""Benchmark: requirements and liquidation price of N synthetic positions with the pure engine.

Deterministic book (fixed seed): both sides, sizes across the BTCUSDT tiers (many small,
a few large), leverage from 1x to 100x, marks around entry. Spread over the CPU cores.
Usage: python bench/margin_engine.py [--count N] [--workers W]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from decimal import Decimal
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from governance.margin import NotionalBeyondTiers, Position, Tier, requirements_compute, schedule_build  # noqa: E402

TIERS = [Tier(Decimal(f), Decimal(c), Decimal(l), Decimal(m)) for f, c, l, m in [
    ("0", "50000", "125", "0.004"), ("50000", "600000", "100", "0.005"), ("600000", "3000000", "75", "0.0065"),
    ("3000000", "12000000", "50", "0.01"), ("12000000", "70000000", "25", "0.02"),
    ("70000000", "100000000", "20", "0.025"), ("100000000", "230000000", "10", "0.05"),
    ("230000000", "480000000", "5", "0.1"), ("480000000", "600000000", "4", "0.125"),
    ("600000000", "800000000", "3", "0.15"), ("800000000", "1200000000", "2", "0.25"),
    ("1200000000", "1800000000", "1", "0.5")]]
SCHEDULE = schedule_build(tiers=TIERS, multiplier=Decimal("1.1"))
THRESHOLD, TICK = Decimal("0.8"), Decimal("0.1")


def positions_generate(seed: int, count: int) -> list[Position]:
    rng = random.Random(seed)
    book = []
    for _ in range(count):
        entry = Decimal(rng.randrange(300_000, 900_000)) / 10
        # many small positions, a few large: log-uniform size from 0.001 to ~2,000 BTC
        qty = Decimal(round(10 ** rng.uniform(-3, 3.3), 3) or 0.001).quantize(Decimal("0.001"))
        leverage = rng.choice([1, 2, 3, 5, 10, 20, 25, 50, 75, 100])
        margin = (qty * entry / leverage).quantize(Decimal("0.01"))
        mark = (entry * Decimal(rng.randrange(9_000, 11_000)) / 10_000).quantize(TICK)
        book.append(Position(side=rng.choice(("long", "short")), quantity=qty, entry_price=entry,
                             isolated_margin=margin, mark_price=mark))
    return book


def chunk_compute(args: tuple[int, int]) -> tuple[int, Counter]:
    seed, count = args
    book = positions_generate(seed, count)
    statuses: Counter = Counter()
    started = time.perf_counter()
    for position in book:
        try:
            statuses[requirements_compute(position=position, schedule=SCHEDULE, margin_call_threshold=THRESHOLD,
                                          tick_size=TICK).status] += 1
        except NotionalBeyondTiers:
            statuses["beyond_tiers"] += 1
    return time.perf_counter() - started, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    chunk = 10_000
    jobs = [(seed, min(chunk, args.count - start)) for seed, start in enumerate(range(0, args.count, chunk))]
    started = time.perf_counter()
    with get_context("fork").Pool(args.workers) as pool:
        results = pool.map(chunk_compute, jobs)
    wall = time.perf_counter() - started
    compute_seconds = sum(r[0] for r in results)
    statuses = sum((r[1] for r in results), Counter())
    print(f"statuses: {dict(sorted(statuses.items()))}")
    print(f"single-core compute: {args.count / compute_seconds:.0f} positions/s "
          f"({compute_seconds * 1e6 / args.count:.1f} us per position, excluding generation)")
    print(f"margin_engine: positions={args.count} seconds={wall:.2f} positions_per_second={args.count / wall:.0f} "
          f"per_core_positions_per_second={args.count / compute_seconds:.0f} workers={args.workers}")


if __name__ == "__main__":
    main()
