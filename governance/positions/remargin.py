"""Set-based re-margining of a range of positions: one SQL statement per chunk.

On PostgreSQL the margin math runs in the statement itself, in exact `numeric`,
mirroring `governance.margin` (its reference; tests compare the two on thousands of
positions): tier by notional, requirements rounded on the exchange's side, the
liquidation tier found by the surplus at each cap, the liquidation price rounded to the
tick towards the entry price. The same statement stamps the versions applied and
appends a margin event for every status change, so a chunk is all or nothing and
running it twice changes nothing the second time.

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

# A status change that is not news: a new position computed for the first time as healthy.
_QUIET = ("pending", "healthy")


@dataclass(frozen=True)
class ChunkResult:
    positions: int
    events: int


def terms_json(terms: dict[str, ContractTerms]) -> tuple[str, str]:
    contracts, tiers = [], []
    for t in terms.values():
        contracts.append({"symbol": t.symbol, "contract_size": str(t.contract_size), "tick": str(t.tick_size),
                          "threshold": str(t.margin_call_threshold), "band": t.band,
                          "multiplier": str(t.multiplier), "cv": t.contract_version_id, "ev": t.exchange_version_id})
        for tier, leverage in zip(t.schedule, t.leverages, strict=True):
            # the initial rate multiplier / leverage may not terminate: SQL divides last, exactly
            capped = tier.initial_margin_rate == 1
            tiers.append({"symbol": t.symbol, "number": tier.number, "floor": str(tier.floor), "cap": str(tier.cap),
                          "imr_num": "1" if capped else str(t.multiplier), "imr_den": "1" if capped else str(leverage),
                          "mmr": str(tier.maintenance_margin_rate), "cum": str(tier.maintenance_amount)})
    return json.dumps(contracts), json.dumps(tiers)


# The computation, shared by the re-margining UPDATE and the impact preview's SELECT
# ("WITH " + COMPUTE_CTES + " SELECT ... FROM s"). Mirrors governance/margin:
# requirements.py, liquidation.py, numbers.py, and stays exact: numeric throughout, and
# every rounding (to 1e-8, to the tick) is an integer quotient checked against its
# remainder, never a quotient cut to some number of places.
#
# Both tiers are found with width_bucket (a binary search) in per-contract arrays, one
# index per position: the tier of the notional is the first whose cap >= notional; the
# liquidation tier the first whose surplus at its cap has the sign the engine looks for
# (liquidation.py), which per tier is a comparison with a constant:
#   long:  wb + (cap - q*ep) - (cap*mmr - cum) >= 0   <=>   cap*(1 - mmr) + cum >= q*ep - wb
#   short: wb + (q*ep - cap) - (cap*mmr - cum) <= 0   <=>   cap*(1 + mmr) - cum >= q*ep + wb
# Caps and both constants strictly increase with the tier (the surplus is monotonic in the
# notional, as liquidation.py relies on; 0 < mmr < 1), so "the first tier with k >= D" is
# tiers + 1 - (how many k >= D), and with the arrays negated and in descending tier order
# (ascending, as width_bucket wants) that count is width_bucket(-D, -k).
# Each step is a subquery of its own (OFFSET 0 keeps the planner from folding it into the
# next, which would compute an expression again at each use), pipelined, nothing
# materialized or sorted.
COMPUTE_CTES = """
c AS (
  SELECT * FROM jsonb_to_recordset(%(contracts)s::jsonb) AS c(
    symbol text, contract_size numeric, tick numeric, threshold numeric, band int, multiplier numeric,
    cv bigint, ev bigint)
), t AS (
  SELECT * FROM jsonb_to_recordset(%(tiers)s::jsonb) AS t(
    symbol text, number int, floor numeric, cap numeric, imr_num numeric, imr_den numeric, mmr numeric,
    cum numeric)
), tk AS (
  -- per tier, once per statement: the products every position of the tier would compute again
  SELECT t.symbol, t.number, t.imr_den, t.cum, t.imr_num * 100000000 AS im8, t.mmr * 100000000 AS mmr8,
         t.cum * 100000000 AS cum8, 1 - t.mmr AS ka_long, 1 + t.mmr AS ka_short,
         (1 - t.mmr) * c.tick AS ky_long, (1 + t.mmr) * c.tick AS ky_short
  FROM t JOIN c ON c.symbol = t.symbol
), ct AS (
  SELECT c.*, m.mark_price, b.tiers, b.caps, b.long_k, b.short_k
  FROM c LEFT JOIN positions_marketdata m ON m.symbol = c.symbol JOIN (
    SELECT symbol, count(*)::int AS tiers, array_agg(-cap ORDER BY number DESC) AS caps,
           array_agg(-(cap * (1 - mmr) + cum) ORDER BY number DESC) AS long_k,
           array_agg(-(cap * (1 + mmr) - cum) ORDER BY number DESC) AS short_k
    FROM t GROUP BY symbol) b ON b.symbol = c.symbol
), p AS (
  SELECT p.ctid AS row_ctid, p.id, p.account_id, p.symbol, p.side, p.status AS old_status, p.entry_price AS ep,
         p.isolated_margin AS wb, p.quantity * ct.contract_size AS q,
         COALESCE(ct.mark_price, p.entry_price) AS px, p.side = 'long' AS is_long,
         p.initial_margin AS old_im, p.maintenance_margin AS old_mm, p.liquidation_price AS old_lp,
         ct.tick, ct.threshold, ct.band, ct.multiplier, ct.cv, ct.ev, ct.tiers, ct.caps, ct.long_k, ct.short_k
  FROM positions_position p
  JOIN ct ON ct.symbol = p.symbol
  WHERE p.id BETWEEN %(first)s AND %(last)s AND (%(ids)s::bigint[] IS NULL OR p.id = ANY(%(ids)s::bigint[]))
  OFFSET 0
), pn AS (
  SELECT p.*, p.q * p.px AS notional, p.q * p.ep AS qep
  FROM p OFFSET 0
), pt AS (
  SELECT n.*,
         n.tiers + 1 - NULLIF(width_bucket(-n.notional, n.caps), 0) AS tier,
         CASE WHEN n.is_long AND n.wb >= n.qep THEN NULL  -- no positive price liquidates it
              WHEN n.is_long THEN n.tiers + 1 - NULLIF(width_bucket(n.wb - n.qep, n.long_k), 0)
              ELSE n.tiers + 1 - NULLIF(width_bucket(-(n.wb + n.qep), n.short_k), 0) END AS liq_tier
  FROM pn n OFFSET 0
), pr AS (
  -- in units of 1e-8: mm rounded up, the balance down; im = ceil(im_x / im_y) below.
  -- The liquidation price is lp_x / lp_a (lp_a = q * ka > 0), rounded to the tick towards the
  -- entry: lp_q = lp_x / (lp_a * tick) truncated, with lp_a * tick = q * ky.
  SELECT o.*,
         o.notional * tr.im8 AS im_x, tr.imr_den AS im_y,
         CEIL(o.notional * tr.mmr8 - tr.cum8) AS mm_u,
         FLOOR((o.wb + CASE WHEN o.is_long THEN o.notional - o.qep ELSE o.qep - o.notional END)
               * 100000000) AS bal_u,
         CASE WHEN o.is_long THEN o.qep - o.wb - tl.cum ELSE o.wb + tl.cum + o.qep END AS lp_x,
         CASE WHEN o.is_long THEN tl.ka_long ELSE tl.ka_short END AS lp_k,
         o.q * CASE WHEN o.is_long THEN tl.ky_long ELSE tl.ky_short END AS lp_y
  FROM pt o
  LEFT JOIN tk tr ON tr.symbol = o.symbol AND tr.number = o.tier
  LEFT JOIN tk tl ON tl.symbol = o.symbol AND tl.number = o.liq_tier
  OFFSET 0
), pq AS (
  -- div() is the exact quotient truncated towards zero; the remainder's sign then says
  -- whether ceil/floor is one away. lp_x < ep * lp_a, i.e. qep * ka: the price is below the entry
  SELECT r.*, div(r.im_x, r.im_y) AS im_q, div(r.lp_x, r.lp_y) AS lp_q, r.lp_x < r.qep * r.lp_k AS lp_up
  FROM pr r OFFSET 0
), x AS (
  SELECT row_ctid, id, account_id, symbol, side, old_status, ep, wb, q, px, old_im, old_mm, old_lp, tick,
         threshold, band, multiplier, cv, ev, notional, tier,
         (im_q + CASE WHEN im_q * im_y < im_x THEN 1 ELSE 0 END) * 0.00000001 AS im,
         mm_u * 0.00000001 AS mm,
         bal_u * 0.00000001 AS bal,
         -- mm / bal rounded up to 1e-8: both are whole units of 1e-8 (mm >= 0, bal > 0)
         CASE WHEN tier IS NOT NULL AND bal_u > 0
              THEN div(mm_u * 100000000 + bal_u - 1, bal_u) * 0.00000001 END AS ratio,
         CASE WHEN tier IS NULL OR liq_tier IS NULL THEN NULL
              WHEN lp_up THEN (lp_q + CASE WHEN lp_q * lp_y < lp_x THEN 1 ELSE 0 END) * tick
              ELSE (lp_q - CASE WHEN lp_q * lp_y > lp_x THEN 1 ELSE 0 END) * tick END AS lp
  FROM pq OFFSET 0
), v AS NOT MATERIALIZED (
  SELECT x.*,
         CASE WHEN x.tier IS NULL THEN 'beyond_tiers'
              WHEN x.bal <= 0 OR x.ratio >= 1 THEN 'liquidatable'
              WHEN x.ratio >= x.threshold THEN 'margin_call'
              ELSE 'healthy' END AS new_status
  FROM x
), s AS (
  SELECT id, account_id, symbol, side, old_status, ep, wb, q, px, old_im, old_mm, old_lp, tick, threshold, band,
         multiplier, cv, ev, notional, tier, im, mm, bal, ratio, lp, new_status
  FROM v
)"""

# The rows are matched by ctid as well as id: a position changed by another transaction
# since this statement's snapshot (an upsert re-margins it itself, with the same terms under
# the same locks) has a new ctid, so it is left as that transaction wrote it rather than
# overwritten with values computed from its old inputs; rollout_finish re-margins whatever
# is left with an old stamp. The narrow subquery keeps the row that UPDATE ... FROM carries
# for such a re-check small.
#
# The statement answers one row: how many positions it wrote, and the margin events of those
# whose status changed, as arrays (RETURNING gives nothing else a value, so the rows it keeps
# for the aggregate stay small). The events are appended by `events_append`.
_EVENT_COLUMNS = ("position_id", "account_id", "symbol", "old_status", "new_status", "margin_ratio",
                  "contract_version_id", "exchange_version_id")
_PG_REMARGIN = "WITH " + COMPUTE_CTES + """, u AS (
  UPDATE positions_position AS pp SET
    notional = s.notional, tier = s.tier, initial_margin = s.im, maintenance_margin = s.mm,
    margin_balance = CASE WHEN s.tier IS NULL THEN NULL ELSE s.bal END, margin_ratio = s.ratio,
    liquidation_price = s.lp, status = s.new_status, contract_version_id = s.cv, exchange_version_id = s.ev,
    volatility_band = s.band, multiplier = s.multiplier, rollout_id = %(rollout)s, computed_at = %(now)s
  FROM (SELECT row_ctid, id, old_status, notional, tier, im, mm, bal, ratio, lp, new_status, cv, ev, band,
               multiplier, old_status <> new_status AND NOT (old_status = %(quiet_old)s AND new_status = %(quiet_new)s)
               AS news
        FROM v OFFSET 0) AS s
  WHERE pp.id BETWEEN %(first)s AND %(last)s AND pp.id = s.id AND pp.ctid = s.row_ctid
  RETURNING s.news, CASE WHEN s.news THEN pp.id END AS position_id,
            CASE WHEN s.news THEN pp.account_id END AS account_id, CASE WHEN s.news THEN pp.symbol END AS symbol,
            CASE WHEN s.news THEN s.old_status END AS old_status, CASE WHEN s.news THEN pp.status END AS new_status,
            CASE WHEN s.news THEN pp.margin_ratio END AS margin_ratio,
            CASE WHEN s.news THEN pp.contract_version_id END AS contract_version_id,
            CASE WHEN s.news THEN pp.exchange_version_id END AS exchange_version_id
)
SELECT count(*), """ + ", ".join(f"array_agg({c}) FILTER (WHERE news)" for c in _EVENT_COLUMNS) + """
FROM u"""


# For the chunk's statement only (`set_config(..., true)` lasts until the transaction ends; the
# index scans are switched back on after it), measured on the 1M bench book:
# - no JIT: the plan costs more than jit_above_cost, and compiling it costs ~50 ms per chunk
#   for no faster execution;
# - the chunk's id range read by bitmap heap scans, page by page, rather than by an index scan
#   row by row (the planner's pick, the ids being in physical order): ~20 ms less per 50,000
#   positions, as both the computation and the UPDATE read the range.
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
    if not terms:
        return ChunkResult(0, 0)
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
    return ChunkResult(positions, events_append(events=events, rollout_id=rollout_id, at=now))


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
        return {**out, "notional": position.size * position.price, "tier": None, "initial_margin": None,
                "maintenance_margin": None, "margin_balance": None, "margin_ratio": None, "liquidation_price": None,
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
            f"UPDATE positions_position SET {assignments}, rollout_id = %s, computed_at = %s "
            f"FROM (VALUES {placeholders}) AS v WHERE positions_position.id = v.column1",
            [rollout_id, now, *params])
