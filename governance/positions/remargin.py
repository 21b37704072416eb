"""Set-based re-margining of a range of positions: one SQL statement per chunk.

On PostgreSQL the margin math runs in the statement itself, in exact `numeric`,
mirroring `governance.margin` (its reference; tests compare the two on thousands of
positions): tier by notional, requirements rounded on the exchange's side, the
liquidation tier found by the surplus at each cap, the liquidation price rounded to the
tick on the exchange's side (up for a long, down for a short). The same statement stamps the versions applied and answers
the status changes, appended as margin events in the same transaction: a chunk is all or
nothing, and running it again computes the same values and appends no event.

SQLite (the embedded default) has no exact decimal arithmetic: there the engine computes
the chunk in Python and one UPDATE ... FROM (VALUES ...) writes it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection

from governance.margin import NotionalBeyondTiers, Position as EnginePosition, requirements_compute
from governance.positions.models import PositionStatus
from governance.positions.terms import ContractTerms

# What the notional column holds (numeric(38, 18)); beyond the last tier, a notional past it is not kept.
NOTIONAL_LIMIT = Decimal("1e20")

# A status change that is not news: a new position computed for the first time as healthy.
_QUIET = ("pending", "healthy")


@dataclass(frozen=True)
class ChunkResult:
    positions: int
    events: int


@dataclass(frozen=True)
class ChunkWrite:
    """Positions re-margined, and the margin events of their status changes: to append with
    `events_append`, last in the transaction."""

    positions: int
    events: dict[str, list]


def terms_json(terms: dict[str, ContractTerms]) -> tuple[str, str]:
    contracts, tiers = [], []
    for t in terms.values():
        contracts.append({"symbol": t.symbol, "contract_size": str(t.contract_size), "tick": str(t.tick_size),
                          "threshold": str(t.margin_call_threshold), "band": t.band,
                          "multiplier": str(t.multiplier), "cv": t.contract_version_id, "ev": t.exchange_version_id})
        for tier, leverage in zip(t.schedule, t.leverages, strict=True):
            # the initial rate multiplier / leverage may not terminate: SQL divides last, exactly
            capped = tier.initial_margin_rate == 1
            tiers.append({"symbol": t.symbol, "number": tier.number, "cap": str(tier.cap),
                          "imr_num": "1" if capped else str(t.multiplier), "imr_den": "1" if capped else str(leverage),
                          "mmr": str(tier.maintenance_margin_rate), "cum": str(tier.maintenance_amount)})
    return json.dumps(contracts), json.dumps(tiers)


# The computation, shared by the re-margining UPDATE and the impact preview's SELECT. Mirrors
# governance/margin: requirements.py, liquidation.py, numbers.py, and stays exact: numeric
# throughout, and every rounding (to 1e-8, to the tick) is an integer quotient checked
# against its remainder, never a quotient cut to some number of places.
#
# TERMS_CTES: the terms, once per statement, one row per contract (`ct`), with every per-tier
# constant in an array indexed by tier number. POSITION_SQL: one position, a row `pp` of
# positions_position under the terms `ct` of its contract, as a subquery that refers to both
# from outside: the UPDATE assigns its row to the computed columns (a multiple-column SET from
# a sub-SELECT), so the book is read once, by the UPDATE's own scan; the preview joins it
# LATERAL. Each step is a subquery of its own (OFFSET 0 keeps the planner from folding it into
# the next, which would compute an expression again at each use).
#
# Both tiers are found with width_bucket (a binary search) in per-contract arrays: the tier of
# the notional is the first whose cap >= notional; the liquidation tier the first whose surplus
# at its cap has the sign the engine looks for (liquidation.py), which per tier is a comparison
# with a constant:
#   long:  wb + (cap - q*ep) - (cap*mmr - cum) >= 0   <=>   cap*(1 - mmr) + cum >= q*ep - wb
#   short: wb + (q*ep - cap) - (cap*mmr - cum) <= 0   <=>   cap*(1 + mmr) - cum >= q*ep + wb
# Caps and both constants strictly increase with the tier (the surplus is monotonic in the
# notional, as liquidation.py relies on; 0 < mmr < 1), so "the first tier with k >= D" is
# tiers + 1 - (how many k >= D), and with the arrays negated and in descending tier order
# (ascending, as width_bucket wants) that count is width_bucket(-D, -k).
TERMS_CTES = """
c AS (
  SELECT * FROM jsonb_to_recordset(%(contracts)s::jsonb) AS c(
    symbol text, contract_size numeric, tick numeric, threshold numeric, band int, multiplier numeric,
    cv bigint, ev bigint)
), t AS (
  SELECT * FROM jsonb_to_recordset(%(tiers)s::jsonb) AS t(
    symbol text, number int, cap numeric, imr_num numeric, imr_den numeric, mmr numeric, cum numeric)
), ct AS (
  SELECT c.*, m.mark_price, b.tiers, b.caps, b.long_k, b.short_k, b.im8, b.im_den, b.mmr8, b.cum8, b.cum,
         b.ky_long, b.ky_short
  FROM c LEFT JOIN positions_marketdata m ON m.symbol = c.symbol JOIN (
    SELECT t.symbol, count(*)::int AS tiers,
           array_agg(-t.cap ORDER BY t.number DESC) AS caps,
           array_agg(-(t.cap * (1 - t.mmr) + t.cum) ORDER BY t.number DESC) AS long_k,
           array_agg(-(t.cap * (1 + t.mmr) - t.cum) ORDER BY t.number DESC) AS short_k,
           -- by tier number: the products every position of the tier would compute again
           array_agg(t.imr_num * 100000000 ORDER BY t.number) AS im8,
           array_agg(t.imr_den ORDER BY t.number) AS im_den,
           array_agg(t.mmr * 100000000 ORDER BY t.number) AS mmr8,
           array_agg(t.cum * 100000000 ORDER BY t.number) AS cum8,
           array_agg(t.cum ORDER BY t.number) AS cum,
           array_agg((1 - t.mmr) * tc.tick ORDER BY t.number) AS ky_long,
           array_agg((1 + t.mmr) * tc.tick ORDER BY t.number) AS ky_short
    FROM t JOIN c tc ON tc.symbol = t.symbol GROUP BY t.symbol) b ON b.symbol = c.symbol
)"""

# A notional beyond the last tier is kept only if its column can hold it (below 1e20): the
# position is beyond tiers either way, and one mark far off must not fail its whole chunk.
POSITION_SQL = f"""
SELECT CASE WHEN x.tier IS NOT NULL OR x.notional < {NOTIONAL_LIMIT:f} THEN x.notional END AS notional, x.tier,
       x.im, x.mm, CASE WHEN x.tier IS NOT NULL THEN x.bal END AS bal, x.ratio, x.lp,
       CASE WHEN x.tier IS NULL THEN 'beyond_tiers'
            WHEN x.bal <= 0 OR x.ratio >= 1 THEN 'liquidatable'
            WHEN x.ratio >= ct.threshold THEN 'margin_call'
            ELSE 'healthy' END AS new_status
FROM (
  SELECT q.notional, q.tier,
         (q.im_q + CASE WHEN q.im_q * q.im_y < q.im_x THEN 1 ELSE 0 END) * 0.00000001 AS im,
         q.mm_u * 0.00000001 AS mm,
         q.bal_u * 0.00000001 AS bal,
         -- mm / bal rounded up to 1e-8: both are whole units of 1e-8 (mm >= 0, bal > 0)
         CASE WHEN q.tier IS NOT NULL AND q.bal_u > 0
              THEN div(q.mm_u * 100000000 + q.bal_u - 1, q.bal_u) * 0.00000001 END AS ratio,
         CASE WHEN q.tier IS NULL OR q.liq_tier IS NULL THEN NULL
              WHEN q.is_long THEN (q.lp_q + CASE WHEN q.lp_q * q.lp_y < q.lp_x THEN 1 ELSE 0 END) * ct.tick
              ELSE (q.lp_q - CASE WHEN q.lp_q * q.lp_y > q.lp_x THEN 1 ELSE 0 END) * ct.tick END AS lp
  FROM (
    -- div() is the exact quotient truncated towards zero; the remainder's sign then says
    -- whether ceil (a long's price) or floor (a short's) is one away
    SELECT r.*, div(r.im_x, r.im_y) AS im_q, div(r.lp_x, r.lp_y) AS lp_q
    FROM (
      -- in units of 1e-8: mm rounded up, the balance down; im = ceil(im_x / im_y) above.
      -- The liquidation price is lp_x / (q * ka), ka = 1 -+ mmr > 0, rounded to the tick up for a
      -- long, down for a short: lp_q = lp_x / (q * ka * tick) truncated, with ka * tick = ky.
      SELECT o.notional, o.qep, o.tier, o.liq_tier, o.is_long,
             o.notional * ct.im8[o.tier] AS im_x, ct.im_den[o.tier] AS im_y,
             CEIL(o.notional * ct.mmr8[o.tier] - ct.cum8[o.tier]) AS mm_u,
             FLOOR((o.wb + CASE WHEN o.is_long THEN o.notional - o.qep ELSE o.qep - o.notional END)
                   * 100000000) AS bal_u,
             CASE WHEN o.is_long THEN o.qep - o.wb - ct.cum[o.liq_tier]
                  ELSE o.wb + ct.cum[o.liq_tier] + o.qep END AS lp_x,
             o.q * CASE WHEN o.is_long THEN ct.ky_long[o.liq_tier] ELSE ct.ky_short[o.liq_tier] END AS lp_y
      FROM (
        SELECT n.*,
               ct.tiers + 1 - NULLIF(width_bucket(-n.notional, ct.caps), 0) AS tier,
               CASE WHEN n.is_long AND n.wb >= n.qep THEN NULL  -- no positive price liquidates it
                    WHEN n.is_long THEN ct.tiers + 1 - NULLIF(width_bucket(n.wb - n.qep, ct.long_k), 0)
                    ELSE ct.tiers + 1 - NULLIF(width_bucket(-(n.wb + n.qep), ct.short_k), 0) END AS liq_tier
        FROM (
          SELECT i.*, i.q * i.px AS notional, i.q * i.ep AS qep
          FROM (
            SELECT pp.entry_price AS ep, pp.isolated_margin AS wb, pp.quantity * ct.contract_size AS q,
                   COALESCE(ct.mark_price, pp.entry_price) AS px, pp.side = 'long' AS is_long
            OFFSET 0) i
          OFFSET 0) n
        OFFSET 0) o
      OFFSET 0) r
    OFFSET 0) q
  OFFSET 0) x"""

# Positions of the chunk's range (and in `ids`, when given) of the contracts in `terms`.
_PG_SCOPE = ("ct.symbol = pp.symbol AND pp.id BETWEEN %(first)s AND %(last)s "
             "AND (%(ids)s::bigint[] IS NULL OR pp.id = ANY(%(ids)s::bigint[]))")

# A position changed by another transaction while the statement runs is re-read by the UPDATE
# (READ COMMITTED re-checks the row's newest version) and computed from its new inputs.
#
# RETURNING sees the new row only (PostgreSQL 15), so the old status travels in a column of its
# own, previous_status, written by the same SET. The statement answers one row: how many
# positions it wrote, and the margin events of those whose status changed, as arrays (RETURNING
# gives the other rows no value, so the rows it keeps for the aggregate stay small). The events
# are appended by `events_append`. The rows without an event are left out by one WHERE, not by a
# FILTER on each of the eight aggregates: 400,000 tests fewer per 50,000 positions.
_EVENT_COLUMNS = {"position_id": "id", "account_id": "account_id", "symbol": "symbol", "old_status": "previous_status",
                  "new_status": "status", "margin_ratio": "margin_ratio", "contract_version_id": "contract_version_id",
                  "exchange_version_id": "exchange_version_id"}
_PG_REMARGIN = "WITH " + TERMS_CTES + """, u AS (
  UPDATE positions_position AS pp SET
    previous_status = pp.status,
    (notional, tier, initial_margin, maintenance_margin, margin_balance, margin_ratio, liquidation_price,
     status) = (""" + POSITION_SQL + """),
    contract_version_id = ct.cv, exchange_version_id = ct.ev, volatility_band = ct.band,
    multiplier = ct.multiplier, rollout_id = %(rollout)s, computed_at = %(now)s
  FROM ct
  WHERE """ + _PG_SCOPE + """
  RETURNING CASE WHEN pp.previous_status <> pp.status
                  AND NOT (pp.previous_status = %(quiet_old)s AND pp.status = %(quiet_new)s) THEN pp END AS e
)
SELECT (SELECT count(*) FROM u), """ + ", ".join(f"array_agg((e).{field})" for field in _EVENT_COLUMNS.values()) + """
FROM u WHERE (e).id IS NOT NULL"""


# For the chunk's statement only (`set_config(..., true)` lasts until the transaction ends; the
# index scans are switched back on after it), measured on the 1M bench book:
# - no JIT: the plan costs more than jit_above_cost, and compiling it costs ~50 ms per chunk
#   for no faster execution;
# - the chunk's id range read by a bitmap heap scan, page by page, rather than by an index scan
#   row by row (the planner's pick, the ids being in physical order): ~20 ms less per 50,000
#   positions when the statement read the range twice; with one read, never slower in A/B runs.
# It answers the session's own enable_indexscan, to put back.
_PG_CHUNK_SETTINGS = ("SELECT current_setting('enable_indexscan'), set_config('jit', 'off', true), "
                      "set_config('enable_indexscan', 'off', true)")

# Any constant: the key of the transaction-level advisory lock that orders event numbering.
_EVENTS_LOCK = 7_305_001

# Numbered after every committed event, in position order.
_PG_EVENTS_APPEND = """
INSERT INTO positions_marginevent (position_id, account_id, symbol, old_status, new_status, margin_ratio,
                                   contract_version_id, exchange_version_id, rollout_id, at, seq)
SELECT e.position_id, e.account_id, e.symbol, e.old_status, e.new_status, e.margin_ratio, e.contract_version_id,
       e.exchange_version_id, %(rollout)s, %(at)s, m.base + ROW_NUMBER() OVER (ORDER BY e.position_id)
FROM unnest(%(position_id)s::bigint[], %(account_id)s::bigint[], %(symbol)s::text[], %(old_status)s::text[],
            %(new_status)s::text[], %(margin_ratio)s::numeric[], %(contract_version_id)s::bigint[],
            %(exchange_version_id)s::bigint[])
       AS e(position_id, account_id, symbol, old_status, new_status, margin_ratio, contract_version_id,
            exchange_version_id),
     (SELECT COALESCE(MAX(seq), 0) AS base FROM positions_marginevent) AS m"""


def events_append(*, events: dict[str, list], rollout_id: int | None, at: datetime) -> int:
    """Append margin events, each with its sequence number, after every committed one.

    `events` holds one list per column of `_EVENT_COLUMNS`, a position once at most. Call
    last in the writing transaction: the lock is held until commit, so the next writer numbers
    its events only once these are visible. A reader following `seq` never sees a number
    before a smaller one, and skips nothing.
    """
    count = len(events["position_id"])
    if not count:
        return 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_EVENTS_LOCK])
            cursor.execute(_PG_EVENTS_APPEND, {**events, "rollout": rollout_id, "at": at})
        else:  # SQLite runs one writer at a time
            cursor.execute("SELECT COALESCE(MAX(seq), 0) FROM positions_marginevent")
            base = cursor.fetchone()[0]
            rows = sorted(zip(*(events[c] for c in _EVENT_COLUMNS)))
            cursor.executemany(
                "INSERT INTO positions_marginevent (" + ", ".join(_EVENT_COLUMNS) + ", rollout_id, at, seq) "
                "VALUES (" + ", ".join(["%s"] * (len(_EVENT_COLUMNS) + 3)) + ")",
                [(*(_sql_value(v) for v in row), rollout_id, at, base + n) for n, row in enumerate(rows, 1)])
    return count


def chunk_remargin(*, first_id: int, last_id: int, terms: dict[str, ContractTerms], rollout_id: int | None,
                   now: datetime, ids: list[int] | None = None) -> ChunkResult:
    """Re-margin positions with first_id <= id <= last_id (and in `ids`, when given) of the
    contracts in `terms`, and append the margin events of those whose status changed.

    Call inside a transaction, and commit soon after: events are numbered last, under a lock
    held until commit. Positions of contracts outside `terms` are not touched.
    """
    written = chunk_write(first_id=first_id, last_id=last_id, terms=terms, rollout_id=rollout_id, now=now, ids=ids)
    return ChunkResult(written.positions, events_append(events=written.events, rollout_id=rollout_id, at=now))


def chunk_write(*, first_id: int, last_id: int, terms: dict[str, ContractTerms], rollout_id: int | None,
                now: datetime, ids: list[int] | None = None) -> ChunkWrite:
    """`chunk_remargin` without appending the events: the caller appends them, last."""
    if not terms:
        return ChunkWrite(0, {c: [] for c in _EVENT_COLUMNS})
    if connection.vendor == "postgresql":
        contracts, tiers = terms_json(terms)
        with connection.cursor() as cursor:
            cursor.execute(_PG_CHUNK_SETTINGS)
            index_scans = cursor.fetchone()[0]
            cursor.execute(_PG_REMARGIN, {"contracts": contracts, "tiers": tiers, "first": first_id,
                                          "last": last_id, "ids": ids, "rollout": rollout_id, "now": now,
                                          "quiet_old": _QUIET[0], "quiet_new": _QUIET[1]})
            positions, *columns = cursor.fetchone()
            # the rest of the transaction (the events' MAX(seq), say) wants its index scans back
            cursor.execute("SELECT set_config('enable_indexscan', %s, true)", [index_scans])
        events = {c: values or [] for c, values in zip(_EVENT_COLUMNS, columns, strict=True)}
    else:
        positions, events = _chunk_remargin_by_engine(first_id=first_id, last_id=last_id, terms=terms, now=now,
                                                      rollout_id=rollout_id, ids=ids)
    return ChunkWrite(positions, events)


def position_compute(row: dict, terms: ContractTerms, mark_price: Decimal | None) -> dict:
    """One position through the engine: the columns the re-margining writes."""
    position = EnginePosition(side=row["side"], quantity=Decimal(row["quantity"]),
                              entry_price=Decimal(row["entry_price"]), isolated_margin=Decimal(row["isolated_margin"]),
                              contract_size=terms.contract_size, mark_price=mark_price)
    out = {"contract_version_id": terms.contract_version_id, "exchange_version_id": terms.exchange_version_id,
           "volatility_band": terms.band, "multiplier": terms.multiplier}
    try:
        result = requirements_compute(position=position, schedule=terms.schedule,
                                      margin_call_threshold=terms.margin_call_threshold, tick_size=terms.tick_size)
    except NotionalBeyondTiers:
        notional = position.size * position.price
        return {**out, "notional": notional if notional < NOTIONAL_LIMIT else None, "tier": None,
                "initial_margin": None, "maintenance_margin": None, "margin_balance": None, "margin_ratio": None,
                "liquidation_price": None,
                "status": PositionStatus.BEYOND_TIERS.value}
    return {**out, "notional": result.notional, "tier": result.tier, "initial_margin": result.initial_margin,
            "maintenance_margin": result.maintenance_margin, "margin_balance": result.margin_balance,
            "margin_ratio": result.margin_ratio, "liquidation_price": result.liquidation_price,
            "status": result.status}


_COLUMNS = ("notional", "tier", "initial_margin", "maintenance_margin", "margin_balance", "margin_ratio",
            "liquidation_price", "status", "contract_version_id", "exchange_version_id", "volatility_band",
            "multiplier")


def _sql_value(value):
    return str(value) if isinstance(value, Decimal) else value


def _chunk_remargin_by_engine(*, first_id: int, last_id: int, terms: dict[str, ContractTerms],
                              rollout_id: int | None, now: datetime, ids: list[int] | None) -> tuple[int, dict]:
    from governance.positions.models import MarketData, Position

    marks = dict(MarketData.objects.filter(symbol__in=list(terms)).values_list("symbol", "mark_price"))
    scope = Position.objects.filter(id__gte=first_id, id__lte=last_id, symbol__in=list(terms))
    if ids is not None:
        scope = scope.filter(id__in=ids)
    rows = list(scope.values(
        "id", "account_id", "symbol", "side", "quantity", "entry_price", "isolated_margin", "status"))
    computed = [(row, position_compute(row, terms[row["symbol"]], marks.get(row["symbol"]))) for row in rows]
    for start in range(0, len(computed), _SQLITE_BATCH):  # SQLite caps the variables of one statement
        _engine_rows_write(computed[start:start + _SQLITE_BATCH], rollout_id=rollout_id, now=now)
    news = [(row, values) for row, values in computed
            if row["status"] != values["status"] and (row["status"], values["status"]) != _QUIET]
    events = {"position_id": [r["id"] for r, _ in news], "account_id": [r["account_id"] for r, _ in news],
              "symbol": [r["symbol"] for r, _ in news], "old_status": [r["status"] for r, _ in news],
              "new_status": [v["status"] for _, v in news], "margin_ratio": [v["margin_ratio"] for _, v in news],
              "contract_version_id": [v["contract_version_id"] for _, v in news],
              "exchange_version_id": [v["exchange_version_id"] for _, v in news]}
    return len(rows), events


_SQLITE_BATCH = 1000


def _engine_rows_write(computed: list[tuple[dict, dict]], *, rollout_id: int | None, now: datetime) -> None:
    params: list = []
    for row, values in computed:
        params.extend([row["id"], *(_sql_value(values[c]) for c in _COLUMNS)])
    placeholders = ", ".join(["(" + ", ".join(["%s"] * (len(_COLUMNS) + 1)) + ")"] * len(computed))
    assignments = ", ".join(f"{c} = v.column{i + 2}" for i, c in enumerate(_COLUMNS))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE positions_position SET previous_status = status, {assignments}, rollout_id = %s, "
            f"computed_at = %s FROM (VALUES {placeholders}) AS v WHERE positions_position.id = v.column1",
            [rollout_id, now, *params])
