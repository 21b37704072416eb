"""`manage.py seed_positions --count N`: a realistic synthetic book of isolated positions.

Deterministic for a given --seed: many small positions and a few large ones (notional spread
across the contract's tiers, never above the last cap), both sides, leverage from 1x to near
the tier's maximum, entry prices around the market price and marks near entry, so the book
holds healthy positions, some in margin call and a few liquidatable.

Everything goes through the services: `market_data_upsert` first (marks and realized
volatility), then `positions_upsert` in batches. `--fast` (PostgreSQL only) loads the rows
with COPY into a temporary table, upserts them with one INSERT ... ON CONFLICT per batch and
re-margins them set-based with `chunk_remargin`, for books of millions of positions.
"""
from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterator

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from governance.errors import DomainError
from governance.parameters.models import Subject
from governance.positions.models import Account, MarketData, Position
from governance.positions.services import market_data_upsert, positions_remargin, positions_upsert
from governance.positions.terms import ContractTerms, terms_current

# Market price and realized volatility per contract; a contract not listed keeps its mark
# price in the market data (or 100) and gets DEFAULT_VOLATILITY.
PRICES: dict[str, tuple[str, str]] = {
    "BTCUSDT": ("60000", "0.45"), "ETHUSDT": ("3000", "0.55"), "SOLUSDT": ("150", "0.75"),
    "BNBUSDT": ("550", "0.5"), "XRPUSDT": ("0.55", "0.65"), "DOGEUSDT": ("0.12", "0.85"),
    "ADAUSDT": ("0.35", "0.7"), "AVAXUSDT": ("25", "0.8"), "LINKUSDT": ("12", "0.75"),
    "DOTUSDT": ("4.5", "0.7"), "LTCUSDT": ("70", "0.6"), "BCHUSDT": ("350", "0.65"),
    "TRXUSDT": ("0.16", "0.4"), "1000PEPEUSDT": ("0.009", "1.2"),
}
DEFAULT_PRICE, DEFAULT_VOLATILITY = Decimal("100"), "0.5"
# How many traders hold each contract, relatively (others: 2).
POPULARITY = {"BTCUSDT": 30, "ETHUSDT": 20, "SOLUSDT": 8, "BNBUSDT": 5, "XRPUSDT": 5, "DOGEUSDT": 5}
# Leverages traders pick, and how often (capped at the tier's maximum).
LEVERAGES = ((1, 6), (2, 8), (3, 8), (5, 12), (10, 18), (15, 6), (20, 12), (25, 6), (50, 6), (75, 3), (100, 2),
             (125, 1))
AGGRESSIVE = 0.08  # share of positions opened at 85-100% of the tier's maximum leverage
BATCH = 10_000
# The accounts are planned in memory before anything is written: a bound well above any book
# this tool is for (the benchmark seeds 1,000,000), and far below what exhausts the memory.
MAX_COUNT = 20_000_000
MARGIN_DECIMALS = 2  # isolated margin in cents of the settlement asset


def _fixed(units: int, decimals: int) -> str:
    """`units` x 10^-decimals as a plain decimal string, exactly."""
    if decimals <= 0:
        return str(units * 10 ** -decimals)
    digits = str(units).rjust(decimals + 1, "0")
    return f"{digits[:-decimals]}.{digits[-decimals:]}"


def _mantissa(step: Decimal) -> tuple[int, int]:
    """A step as (integer mantissa, decimals): 0.05 -> (5, 2), 10 -> (10, 0)."""
    sign, digits, exponent = step.normalize().as_tuple()
    mantissa = int("".join(map(str, digits)))
    return (mantissa * 10 ** exponent, 0) if exponent >= 0 else (mantissa, -exponent)


@dataclass(frozen=True)
class ContractPlan:
    symbol: str
    price: float
    mark: str  # the mark price, on the tick
    mark_f: float
    volatility: str
    tick: tuple[int, int]
    quantity_decimals: int
    contract_size: float
    caps: tuple[float, ...]
    leverages: tuple[float, ...]  # effective maximum leverage per tier
    rates: tuple[float, ...]  # effective maintenance margin rate per tier
    amounts: tuple[float, ...]  # maintenance amount (cum) per tier


def contract_plan(*, terms: ContractTerms, price: Decimal, volatility: str, seed: int) -> ContractPlan:
    rng = random.Random(f"mark-{seed}-{terms.symbol}")
    tick = _mantissa(terms.tick_size)
    tick_f = float(terms.tick_size)
    mark_ticks = max(1, round(float(price) * (1 + rng.uniform(-0.002, 0.002)) / tick_f))
    mark = _fixed(mark_ticks * tick[0], tick[1])
    unit_value = float(price * terms.contract_size)
    # a quantity step worth between 1 and 10 units of the settlement asset (1 contract when
    # a contract is worth less)
    quantity_decimals = max(0, math.floor(math.log10(unit_value)) if unit_value >= 1 else 0)
    schedule = terms.schedule
    return ContractPlan(terms.symbol, float(price), mark, float(Decimal(mark)), volatility, tick, quantity_decimals,
                        float(terms.contract_size), tuple(float(t.cap) for t in schedule),
                        tuple(float(t.max_leverage) for t in schedule),
                        tuple(float(t.maintenance_margin_rate) for t in schedule),
                        tuple(float(t.maintenance_amount) for t in schedule))


def _leverage(rng: random.Random, maximum: float) -> float:
    if rng.random() < AGGRESSIVE:
        return max(1.0, maximum * rng.uniform(0.85, 1.0))
    choices = [(lev, w) for lev, w in LEVERAGES if lev <= maximum] or [(1, 1)]
    return float(rng.choices([c[0] for c in choices], weights=[c[1] for c in choices])[0])


def position_row(rng: random.Random, plan: ContractPlan, account: str) -> dict[str, str]:
    """One position. Its margin follows from a leverage traders pick; a few positions are
    placed on purpose at a margin ratio (maintenance / balance at the mark) in margin call or
    beyond, and traders top up the others before the ratio reaches 0.6."""
    caps = plan.caps
    r = rng.random()
    if r < 0.80 or len(caps) == 1:  # retail: 10 units of the settlement asset to the first cap
        low, high = 10.0, caps[0]
    elif r < 0.97:  # the next tiers
        low, high = caps[0], caps[min(2, len(caps) - 1)]
    else:  # a few large ones, anywhere up to the last cap
        low, high = caps[min(1, len(caps) - 1)], caps[-1]
    target = math.exp(rng.uniform(math.log(low), math.log(high)))
    # entry around the market price; a few positions opened long ago, further away
    spread = 0.05 if rng.random() < 0.02 else 0.008
    tick_f = plan.tick[0] * 10.0 ** -plan.tick[1]
    entry_ticks = max(1, round(plan.price * math.exp(rng.gauss(0, spread)) / tick_f))
    entry_f = entry_ticks * tick_f
    scale = 10 ** plan.quantity_decimals
    units = max(1, round(target / (entry_f * plan.contract_size) * scale))
    limit = math.floor(caps[-1] * 0.99 / (plan.mark_f * plan.contract_size) * scale)  # notional at mark < last cap
    units = min(units, max(1, limit))
    size = units / scale * plan.contract_size
    notional = size * plan.mark_f
    tier = next((i for i, cap in enumerate(caps) if notional <= cap), len(caps) - 1)
    side = "long" if rng.random() < 0.55 else "short"
    decimals = MARGIN_DECIMALS
    margin = size * entry_f / _leverage(rng, plan.leverages[tier])
    maintenance = max(notional * plan.rates[tier] - plan.amounts[tier], 1e-8)
    kind = rng.random()
    if kind < 0.035:  # in margin call (ratio 0.81-0.97), or liquidatable (1.03-1.5): on the losing side
        ratio = rng.uniform(0.81, 0.97) if kind < 0.028 else rng.uniform(1.03, 1.5)
        side = "long" if entry_f >= plan.mark_f else "short"
        decimals = 8
    elif kind < 0.085:  # close to a margin call
        ratio = rng.uniform(0.6, 0.78)
        decimals = 8
    else:
        ratio = None
    pnl = size * (plan.mark_f - entry_f) * (1 if side == "long" else -1)
    if ratio is None and (margin + pnl <= 0 or maintenance / (margin + pnl) >= 0.6):
        ratio = rng.uniform(0.2, 0.6)  # topped up
    if ratio is not None:
        margin = maintenance / ratio - pnl
    # at most 15 significant digits: what SQLite (the embedded default) stores exactly
    decimals = min(decimals, max(0, 15 - len(str(math.floor(margin))))) if margin >= 1 else decimals
    margin_units = max(1, math.ceil(margin * 10 ** decimals))
    return {"account": account, "symbol": plan.symbol, "side": side,
            "quantity": _fixed(units, plan.quantity_decimals),
            "entry_price": _fixed(entry_ticks * plan.tick[0], plan.tick[1]),
            "isolated_margin": _fixed(margin_units, decimals)}


def holdings_plan(rng: random.Random, *, count: int, accounts: int, contracts: int) -> list[int]:
    """How many positions each account holds: at least one, at most one per contract, skewed
    (a few accounts trade many contracts)."""
    held = [1] * accounts
    extra = count - accounts
    cursor = 0
    while extra:
        index = int(accounts * rng.random() ** 3)
        if held[index] >= contracts:
            while held[cursor] >= contracts:
                cursor += 1
            index = cursor
        held[index] += 1
        extra -= 1
    return held


def book_generate(*, seed: int, count: int, accounts: int, plans: list[ContractPlan],
                  prefix: str) -> Iterator[dict[str, str]]:
    """The rows of the book, account by account."""
    rng = random.Random(f"positions-{seed}")
    indexes = range(len(plans))
    cumulative = list(itertools.accumulate(POPULARITY.get(p.symbol, 2) for p in plans))
    holdings = holdings_plan(rng, count=count, accounts=accounts, contracts=len(plans))
    width = max(6, len(str(accounts - 1)))
    for number, held in enumerate(holdings):
        code = f"{prefix}{number:0{width}d}"
        if 2 * held > len(plans):
            chosen = rng.sample(range(len(plans)), held)
        else:
            picked: set[int] = set()
            while len(picked) < held:  # weighted, without repeats
                picked.update(rng.choices(indexes, cum_weights=cumulative, k=held - len(picked)))
            chosen = picked
        for index in sorted(chosen):
            yield position_row(rng, plans[index], code)


def _batches(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- the fast path (PostgreSQL): COPY, one set-based upsert per batch, chunk_remargin ----------

_FAST_UPSERT = """
INSERT INTO positions_position (account_id, symbol, side, quantity, entry_price, isolated_margin, updated_at, status)
SELECT a.id, s.symbol, s.side, s.quantity, s.entry_price, s.isolated_margin, %(now)s, 'pending'
FROM seed_positions_rows s JOIN positions_account a ON a.code = s.account
ORDER BY a.id, s.symbol
ON CONFLICT (account_id, symbol) DO UPDATE SET side = EXCLUDED.side, quantity = EXCLUDED.quantity,
  entry_price = EXCLUDED.entry_price, isolated_margin = EXCLUDED.isolated_margin, updated_at = EXCLUDED.updated_at
RETURNING id"""


@transaction.atomic
def fast_batch_load(*, rows: list[dict[str, str]], now) -> None:
    """Upsert generated (valid) rows and re-margin them, in one transaction, set-based."""
    codes = sorted({r["account"] for r in rows})
    Account.objects.bulk_create([Account(code=c) for c in codes], ignore_conflicts=True,
                                batch_size=10_000)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS seed_positions_rows (account text, symbol text, "
                       "side text, quantity numeric, entry_price numeric, isolated_margin numeric)")
        cursor.execute("TRUNCATE seed_positions_rows")  # the caller's transaction may span batches
        with cursor.copy(
                "COPY seed_positions_rows (account, symbol, side, quantity, entry_price, isolated_margin) "
                "FROM STDIN") as copy:
            for r in rows:
                copy.write_row((r["account"], r["symbol"], r["side"], r["quantity"], r["entry_price"],
                                r["isolated_margin"]))
        cursor.execute(_FAST_UPSERT, {"now": now})
        ids = sorted(row[0] for row in cursor.fetchall())
    positions_remargin(ids=ids, symbols=sorted({r["symbol"] for r in rows}), now=now)


class Command(BaseCommand):
    help = ("Create a realistic synthetic book of isolated positions (deterministic for --seed) through the "
            "positions services, with market data for its contracts. Exits 2 on bad arguments.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--count", type=int, required=True, help="number of positions")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument("--symbols", help="comma-separated contracts (default: every contract with active "
                                              "parameters)")
        parser.add_argument("--accounts", type=int, help="number of accounts (default: about one per 3 positions)")
        parser.add_argument("--batch", type=int, default=BATCH, help=f"rows per upsert (default {BATCH})")
        parser.add_argument("--fast", action="store_true",
                            help="PostgreSQL only: COPY the rows and re-margin them set-based, for millions of rows")

    def handle(self, *args, count: int, seed: int, symbols: str | None, accounts: int | None, batch: int,
               fast: bool, **options) -> None:
        if not 0 < count <= MAX_COUNT:
            raise CommandError(f"--count must be a number of positions from 1 to {MAX_COUNT:,}, got {count}",
                               returncode=2)
        if not 0 <= seed < 10 ** 12:  # it names the accounts (S<seed>-<number>): codes stay short
            raise CommandError(f"--seed must be from 0 to 999999999999, got {seed}", returncode=2)
        if batch <= 0:
            raise CommandError(f"--batch must be positive, got {batch}", returncode=2)
        if fast and connection.vendor != "postgresql":
            raise CommandError(f"--fast needs PostgreSQL; this database is {connection.vendor}", returncode=2)
        active = terms_current()
        if symbols is None:
            if not active:
                raise CommandError("no contract has active parameters: activate the rules first "
                                   "(manage.py demo_setup)", returncode=2)
            chosen = sorted(active)
        else:
            chosen = list(dict.fromkeys(s.strip() for s in symbols.split(",") if s.strip()))
            if not chosen:
                raise CommandError("--symbols names no contract", returncode=2)
            known = set(Subject.objects.filter(kind=Subject.Kind.CONTRACT).values_list("key", flat=True))
            unknown = [s for s in chosen if s not in known]
            if unknown:
                raise CommandError(f"unknown contract(s): {', '.join(unknown)}", returncode=2)
            inactive = [s for s in chosen if s not in active]
            if inactive:
                raise CommandError(f"no active parameters for: {', '.join(inactive)}", returncode=2)
        low = math.ceil(count / len(chosen))
        if accounts is None:
            accounts = max(low, math.ceil(count / 3))
        elif not low <= accounts <= count:
            raise CommandError(f"--accounts must be between {low} and {count} for {count} position(s) over "
                               f"{len(chosen)} contract(s) (one position per account and contract), got {accounts}",
                               returncode=2)

        marks = dict(MarketData.objects.filter(symbol__in=chosen).values_list("symbol", "mark_price"))
        prices = {s: Decimal(PRICES[s][0]) if s in PRICES else marks.get(s, DEFAULT_PRICE) for s in chosen}
        vols = {s: PRICES.get(s, (None, DEFAULT_VOLATILITY))[1] for s in chosen}
        # marks first, in the rounding of the plan: positions are computed against them
        tentative = [contract_plan(terms=active[s], price=prices[s], volatility=vols[s], seed=seed) for s in chosen]
        now = timezone.now()
        try:
            market_data_upsert(rows=[{"symbol": p.symbol, "mark_price": p.mark, "realized_volatility": p.volatility}
                                     for p in tentative], now=now)
            terms = terms_current(symbols=chosen)  # the volatility band may have changed the leverages
            plans = [contract_plan(terms=terms[s], price=prices[s], volatility=vols[s], seed=seed) for s in chosen]
            rows = book_generate(seed=seed, count=count, accounts=accounts, plans=plans, prefix=f"S{seed}-")
            for part in _batches(rows, batch):
                if fast:
                    fast_batch_load(rows=part, now=now)
                else:
                    positions_upsert(rows=part, now=now)
        except DomainError as exc:
            raise CommandError(exc.message, returncode=2)
        seeded = Position.objects.filter(updated_at=now, account__code__startswith=f"S{seed}-")
        statuses: Counter = Counter()
        used: set[str] = set()
        for symbol, status, n in seeded.values_list("symbol", "status").annotate(n=Count("id")).order_by():
            statuses[status] += n
            used.add(symbol)
        total = sum(statuses.values())
        others = "".join(f", {s} {n}" for s, n in sorted(statuses.items())
                         if s not in ("healthy", "margin_call", "liquidatable"))
        self.stdout.write(f"seed_positions: {total} positions in {accounts} accounts over {len(used)} contracts "
                          f"(healthy {statuses['healthy']}, margin_call {statuses['margin_call']}, "
                          f"liquidatable {statuses['liquidatable']}{others})")
