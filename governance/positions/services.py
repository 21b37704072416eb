"""Writes to the book: positions and market data upserts, rollouts and their chunks.

Every write to the computed margin of positions goes through `chunk_remargin` (set-based).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import reduce
from operator import or_
from typing import Any, Iterable

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from governance.errors import NotFound, ValidationFailed
from governance.margin.numbers import decimal_parse
from governance.parameters.models import ParameterVersion, Subject
from governance.positions.models import Account, MarketData, Position, Rollout, RolloutChunk
from governance.positions.remargin import ChunkResult, chunk_remargin, chunk_write, events_append
from governance.positions.terms import terms_current
from governance.transactions import conflict_retry

R = Rollout.State


def _chunk_size() -> int:
    return int(getattr(settings, "ROLLOUT_CHUNK_SIZE", 50000))


# --- rollouts ---------------------------------------------------------------------------

def _chunk_ranges(symbols: list[str], size: int) -> list[tuple[int, int, int]]:
    """(first id, last id, count) of consecutive groups of `size` positions of `symbols`, by id."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(
                "SELECT MIN(id), MAX(id), COUNT(*) FROM ("
                "  SELECT id, (ROW_NUMBER() OVER (ORDER BY id) - 1) / %s AS g FROM positions_position"
                f"  WHERE symbol IN ({', '.join(['%s'] * len(symbols))})"
                ") numbered GROUP BY g ORDER BY 1", [size, *symbols])
            return [tuple(row) for row in cursor.fetchall()]
        # Part of the activation, so it has to be quick on millions of positions. The ids in
        # order, gathered in one array (no window, no sort when the scope is every contract
        # of the book), then every size-th of them. The contracts in the book come from a
        # skip scan of the (symbol, id) index: when the scope covers them all, the ids come
        # straight from the primary key in order, with no filter.
        cursor.execute(
            "WITH RECURSIVE b AS ("
            "  SELECT MIN(symbol) AS symbol FROM positions_position"
            "  UNION ALL SELECT (SELECT MIN(symbol) FROM positions_position WHERE symbol > b.symbol) FROM b"
            "  WHERE b.symbol IS NOT NULL"
            ") SELECT symbol FROM b WHERE symbol IS NOT NULL")
        booked = {row[0] for row in cursor.fetchall()}
        scoped = "" if booked <= set(symbols) else "WHERE symbol = ANY(%(symbols)s)"
        cursor.execute(
            "SELECT a[i], a[LEAST(i + %(size)s - 1, cardinality(a))], LEAST(%(size)s, cardinality(a) - i + 1)"
            f" FROM (SELECT array_agg(id) AS a FROM (SELECT id FROM positions_position {scoped} ORDER BY id) ids) x,"
            " generate_series(1, cardinality(a), %(size)s) AS i ORDER BY i",
            {"size": size, "symbols": list(symbols)})
        return [tuple(row) for row in cursor.fetchall()]


@transaction.atomic
def rollout_start(*, trigger: str, symbols: Iterable[str] | None = None,
                  contract_version: ParameterVersion | None = None,
                  exchange_version: ParameterVersion | None = None, now: datetime | None = None) -> Rollout:
    """Record a rollout of the parameters in force to every position of `symbols` (None: all
    contracts with active parameters) and its chunks; the chunks are sent to the workers when
    the transaction commits.

    Running rollouts whose scope overlaps are superseded, and the newest one finishes their
    job: besides its own chunks it takes over their chunks still to do, for the contracts not
    already in its own scope. Work they finished is not done again, so a stream of mark-price
    rollouts on one contract never starts a whole-book rollout over.
    """
    now = now or timezone.now()
    own = set(symbols) if symbols is not None else set(terms_current())
    # One start at a time: a start waiting on a rollout another start just superseded would
    # otherwise not see the newer one, and both would run over the same contracts. Rollouts
    # of other contracts are read, not locked: a chunk updating its rollout's counters then
    # never waits for an activation elsewhere (nor an activation for it).
    _rollouts_start_lock()
    overlapping = [r for r in Rollout.objects.filter(state=R.RUNNING) if own & set(r.symbols)]
    scope = own.union(*(r.symbols for r in overlapping))
    rollout = Rollout.objects.create(trigger=trigger, symbols=sorted(scope), contract_version=contract_version,
                                     exchange_version=exchange_version, started_at=now)
    Rollout.objects.filter(pk__in=[r.pk for r in overlapping], state=R.RUNNING).update(
        state=R.SUPERSEDED, superseded_by=rollout, finished_at=now)
    part = sorted(own) if overlapping else None  # None: the chunk covers the rollout's whole scope
    chunks = [RolloutChunk(rollout=rollout, first_id=a, last_id=b, positions=n, symbols=part)
              for a, b, n in (_chunk_ranges(sorted(own), _chunk_size()) if own else [])]
    chunks += _chunks_taken_over(rollout=rollout, older=overlapping, own=own)
    RolloutChunk.objects.bulk_create(chunks)
    rollout.chunks_total, rollout.positions_total = len(chunks), sum(c.positions for c in chunks)
    rollout.save(update_fields=["chunks_total", "positions_total"])
    # robust: a broker out of reach must not fail what has just committed (an activation, say);
    # `rollouts_resume` sends the work of a rollout gone quiet again
    if not chunks:
        transaction.on_commit(lambda: _dispatch_finish(rollout.pk), robust=True)
    else:
        chunk_ids = list(rollout.chunks.values_list("pk", flat=True))
        transaction.on_commit(lambda: _dispatch_chunks(chunk_ids), robust=True)
    return rollout


# Any constant: the key of the transaction-level advisory lock that orders rollout starts.
_ROLLOUTS_START_LOCK = 7_305_002


def _rollouts_start_lock() -> None:
    if connection.vendor == "postgresql":  # SQLite runs one writer at a time
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ROLLOUTS_START_LOCK])


def _chunks_taken_over(*, rollout: Rollout, older: list[Rollout], own: set[str]) -> list[RolloutChunk]:
    """The chunks of `older` still to do, for their contracts outside `own`, counted again."""
    parts = []
    for chunk in RolloutChunk.objects.filter(rollout__in=older, done_at__isnull=True).select_related("rollout"):
        rest = sorted(set(chunk.symbols or chunk.rollout.symbols) - own)
        if rest:
            parts.append(RolloutChunk(rollout=rollout, first_id=chunk.first_id, last_id=chunk.last_id, symbols=rest))
    if parts:  # one statement counts them all
        counts = Position.objects.filter(reduce(or_, (Q(id__range=(c.first_id, c.last_id)) for c in parts))).aggregate(
            **{f"c{i}": Count("id", filter=Q(id__range=(c.first_id, c.last_id), symbol__in=c.symbols))
               for i, c in enumerate(parts)})
        for i, c in enumerate(parts):
            c.positions = counts[f"c{i}"]
    return parts


def _dispatch_chunks(chunk_ids: list[int]) -> None:
    from governance.positions.tasks import rollout_chunk_apply_task

    for chunk_id in chunk_ids:
        rollout_chunk_apply_task.delay(chunk_id)


def _dispatch_finish(rollout_id: int) -> None:
    from governance.positions.tasks import rollout_finish_task

    rollout_finish_task.delay(rollout_id)


def _scope_exclusive_lock(symbols: list[str]) -> None:
    """Hold the contracts' subjects as activation does (FOR UPDATE, in id order) until commit:
    a change of their marks or volatility bands then never commits while a chunk, an upsert
    or a final step of these contracts is computing with the old ones (they hold the
    subjects FOR SHARE), and waits for them instead."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM parameters_subject WHERE key = ANY(%s) ORDER BY id FOR UPDATE", [symbols])


def _scope_share_lock(symbols: list[str]) -> None:
    """Hold the subjects of the scope (and the exchange-wide one) against activation until commit.

    Activation locks its subject FOR UPDATE, so a chunk reads the versions in force and
    writes its stamp with no activation in between: an older chunk can never overwrite
    a newer stamp.
    """
    if connection.vendor != "postgresql":
        return  # SQLite runs one writer at a time
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM parameters_subject WHERE key = ANY(%s) ORDER BY id FOR SHARE",
                       [[*symbols, Subject.EXCHANGE_KEY]])


def rollout_chunk_attempt_count(*, chunk_id: int) -> None:
    """Count a delivery of a chunk not yet done, in a transaction of its own: an attempt that
    fails or whose worker is killed rolls its work back, not its count."""
    RolloutChunk.objects.filter(pk=chunk_id, done_at__isnull=True).update(attempts=F("attempts") + 1)


@transaction.atomic
def rollout_chunk_apply(*, chunk_id: int, now: datetime | None = None) -> ChunkResult | None:
    """Re-margin one chunk with the parameters in force now. Idempotent: a chunk already done,
    or of a rollout no longer running, is skipped (None)."""
    # lock the chunk row only: locking the rollout row too would run a rollout's chunks one at a time
    chunk = RolloutChunk.objects.select_for_update(of=("self",)).filter(pk=chunk_id).select_related("rollout").first()
    if chunk is None:
        raise NotFound(f"no rollout chunk {chunk_id}")
    if chunk.done_at is not None or chunk.rollout.state != R.RUNNING:
        return None
    rollout = chunk.rollout
    symbols = chunk.symbols or rollout.symbols
    _scope_share_lock(symbols)
    # superseded while this waited for the subjects (a mark changed, say): the newer rollout
    # does this work, with what changed
    if not Rollout.objects.filter(pk=rollout.pk, state=R.RUNNING).exists():
        return None
    # the time of the computation, once the locks are held: not of a wait for them
    now = now or timezone.now()
    written = chunk_write(first_id=chunk.first_id, last_id=chunk.last_id,
                          terms=terms_current(symbols=symbols), rollout_id=rollout.pk, now=now)
    result = ChunkResult(written.positions, len(written.events["position_id"]))
    chunk.done_at, chunk.positions, chunk.events = now, result.positions, result.events
    chunk.save(update_fields=["done_at", "positions", "events"])
    Rollout.objects.filter(pk=rollout.pk).update(chunks_done=F("chunks_done") + 1,
                                                 positions_done=F("positions_done") + result.positions,
                                                 events=F("events") + result.events)
    rollout.refresh_from_db(fields=["chunks_done", "chunks_total"])
    if rollout.chunks_done >= rollout.chunks_total:
        transaction.on_commit(lambda: _dispatch_finish(rollout.pk), robust=True)
    # last: the events' lock is taken after the rollout's row, as the final step takes them
    events_append(events=written.events, rollout_id=rollout.pk, at=now)
    return result


@transaction.atomic
def rollout_chunk_fail(*, chunk_id: int, error: str, now: datetime | None = None) -> Rollout | None:
    """A chunk the workers gave up on (an error no retry cures, or the retries spent): its
    rollout cannot complete, and says why instead of running for ever. The positions of the
    scope keep the stamp they had; the chunks still to come find the rollout failed."""
    chunk = RolloutChunk.objects.filter(pk=chunk_id).first()
    if chunk is None or chunk.done_at is not None:
        return None
    _scope_share_lock(chunk.symbols or Rollout.objects.get(pk=chunk.rollout_id).symbols)  # as the final step
    rollout = Rollout.objects.select_for_update().get(pk=chunk.rollout_id)
    if rollout.state != R.RUNNING:
        return rollout
    rollout.state, rollout.finished_at = R.FAILED, now or timezone.now()
    rollout.detail = f"chunk {chunk.pk} (positions {chunk.first_id} to {chunk.last_id}) failed: {error}"[:2000]
    rollout.save(update_fields=["state", "finished_at", "detail"])
    return rollout


def positions_stale(*, symbols: list[str]) -> list[int]:
    """Ids of positions of `symbols` whose stamp is not the parameters in force now, in order.

    One statement over the scope, joined to the stamp in force per contract; a contract
    without active parameters has no stamp to carry and is left out.
    """
    terms = terms_current(symbols=symbols)
    if not terms:
        return []
    stamps = ", ".join(["(%s, CAST(%s AS bigint), CAST(%s AS integer), CAST(%s AS bigint))"] * len(terms))
    params = [x for t in terms.values() for x in (t.symbol, t.contract_version_id, t.band, t.exchange_version_id)]
    # a missing stamp (NULL) is stale too: null-safe comparisons
    differs = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH stamp (symbol, cv, band, ev) AS (VALUES {stamps}) "
            "SELECT p.id FROM positions_position p JOIN stamp ON stamp.symbol = p.symbol "
            f"WHERE p.contract_version_id {differs} stamp.cv OR p.volatility_band {differs} stamp.band "
            f"OR p.exchange_version_id {differs} stamp.ev ORDER BY p.id", params)
        return [row[0] for row in cursor.fetchall()]


@transaction.atomic
def rollout_finish(*, rollout_id: int, now: datetime | None = None) -> Rollout:
    """The final step: every position of the scope must carry the stamp in force; positions
    that do not (added or left behind meanwhile) are re-margined here, then it is checked again."""
    now = now or timezone.now()
    symbols = Rollout.objects.filter(pk=rollout_id).values_list("symbols", flat=True).first()
    if symbols is None:
        raise NotFound(f"no rollout {rollout_id}")
    # the subjects before the rollout row, as activation takes them (subject, then the running
    # rollouts it supersedes): the other order could deadlock with it
    _scope_share_lock(symbols)
    rollout = Rollout.objects.select_for_update().get(pk=rollout_id)
    if rollout.state != R.RUNNING:
        return rollout
    pending = rollout.chunks.filter(done_at__isnull=True).count()
    if pending:
        return rollout  # a chunk is still on its way; its completion calls us again
    stale = positions_stale(symbols=rollout.symbols)
    if stale:
        result = chunk_remargin(first_id=stale[0], last_id=stale[-1], ids=stale,
                                terms=terms_current(symbols=rollout.symbols), rollout_id=rollout.pk, now=now)
        rollout.events += result.events
        rollout.detail = f"final step re-margined {result.positions} position(s) left with an old stamp"
        stale = positions_stale(symbols=rollout.symbols)
    if stale:
        rollout.state, rollout.detail = R.FAILED, f"{len(stale)} position(s) still carry an old stamp"
    else:
        rollout.state = R.COMPLETED
    rollout.finished_at = now
    rollout.save(update_fields=["state", "detail", "finished_at", "events"])
    return rollout


def rollouts_resume(*, older_than_seconds: float | None = None) -> int:
    """The periodic safety net beside the broker's own redelivery: re-send what a lost message
    left undone (a worker killed between taking a message and recording it, a broker restarted
    without its queue). Returns the chunks re-sent.

    Only rollouts gone quiet are resumed: none of their chunks done (or, with none done, the
    rollout not started) for `older_than_seconds`. A rollout whose chunks are being done has
    workers draining its queue, where its other chunks most likely still wait: re-sending them
    would only queue duplicates. Of a quiet rollout, the chunks a worker is doing right now
    (their row locked, SKIP LOCKED) are left alone; a rollout with every chunk done gets its
    final step again."""
    if older_than_seconds is None:
        older_than_seconds = settings.ROLLOUTS_RESUME_SECONDS
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    quiet = list(Rollout.objects.filter(state=R.RUNNING).annotate(
        active_at=Coalesce(Max("chunks__done_at"), "started_at")).filter(active_at__lt=cutoff).values_list(
        "pk", flat=True))
    if not quiet:
        return 0
    with transaction.atomic():
        chunk_ids = list(RolloutChunk.objects.filter(rollout__in=quiet, done_at__isnull=True).select_for_update(
            skip_locked=True).order_by("pk").values_list("pk", flat=True))
    _dispatch_chunks(chunk_ids)
    undone = RolloutChunk.objects.filter(rollout=OuterRef("pk"), done_at__isnull=True)
    for rollout_id in Rollout.objects.filter(~Exists(undone), pk__in=quiet).values_list("pk", flat=True):
        _dispatch_finish(rollout_id)
    return len(chunk_ids)


# --- positions and market data ----------------------------------------------------------

@dataclass(frozen=True)
class UpsertResult:
    rows: int
    created: int
    updated: int


def _decimal(row: dict, key: str, where: str, errors: list, *, model: type[models.Model], positive: bool = True,
             optional: bool = False) -> Decimal | None:
    value = row.get(key)
    if value is None or value == "":
        if not optional:
            errors.append({"path": f"{where}.{key}", "message": "required"})
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):  # a float may have lost digits already
        errors.append({"path": f"{where}.{key}", "message": f"must be a decimal string or integer, not {value!r}"})
        return None
    try:
        number = Decimal(value) if isinstance(value, int) else decimal_parse(value)
    except ValueError as exc:
        errors.append({"path": f"{where}.{key}", "message": str(exc)})
        return None
    if not number.is_finite() or (number <= 0 if positive else number < 0):
        errors.append({"path": f"{where}.{key}",
                       "message": f"must be {'positive' if positive else 'zero or more'}, got {value}"})
        return None
    field = model._meta.get_field(key)
    whole, places = field.max_digits - field.decimal_places, field.decimal_places
    # the database would refuse a value beyond its column, or round its extra places away silently
    if number and number.adjusted() >= whole:
        errors.append({"path": f"{where}.{key}",
                       "message": f"too large, at most {whole} digits before the decimal point: {value}"})
        return None
    if _places(number) > places:
        errors.append({"path": f"{where}.{key}", "message": f"more than {places} decimal places: {value}"})
        return None
    if connection.vendor == "sqlite" and _significant(number) > _SQLITE_DIGITS:
        errors.append({"path": f"{where}.{key}", "message": f"more than {_SQLITE_DIGITS} significant digits: {value} "
                                                            f"(SQLite, the embedded default, would round it; "
                                                            f"PostgreSQL keeps it exactly)"})
        return None
    return number


# SQLite stores a decimal column's text as a REAL (or INTEGER) keeping only 15 significant
# digits: 10.00000000000000001 would be stored, and margined, as 10.
_SQLITE_DIGITS = 15


def _significant(number: Decimal) -> int:
    digits = "".join(map(str, number.as_tuple().digits)).strip("0")
    return len(digits)


def _places(number: Decimal) -> int:
    """Decimal places that count (trailing zeros do not), exactly: normalize() would round to
    the context's 28 digits first, and let a longer number through to be rounded by the database."""
    if not number:
        return 0
    sign, digits, exponent = number.as_tuple()
    significant = "".join(map(str, digits)).rstrip("0")
    return max(0, -(exponent + len(digits) - len(significant)))


def _known_symbols() -> set[str]:
    return set(Subject.objects.filter(kind=Subject.Kind.CONTRACT).values_list("key", flat=True))


def _known(symbol: Any, known: set[str]) -> bool:
    return isinstance(symbol, str) and symbol in known  # a row's symbol may be any JSON value


# The fields of an upsert row; any other key is refused, not ignored (a misspelt
# realized_volatility must not pass as a row without one).
POSITION_FIELDS = ("account", "symbol", "side", "quantity", "entry_price", "isolated_margin")
MARKET_DATA_FIELDS = ("symbol", "mark_price", "realized_volatility")


def _unknown_fields(row: dict, fields: tuple[str, ...], where: str, errors: list) -> None:
    for key in row:
        if key not in fields:
            errors.append({"path": f"{where}.{key}", "message": f"unknown field (expected {', '.join(fields)})"})


def _fail_if(errors: list[dict], what: str) -> None:
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid field(s) in the {what}; first: {errors[0]['path']}: "
                               f"{errors[0]['message']}; nothing was written", details=errors)


@conflict_retry()
@transaction.atomic
def positions_upsert(*, rows: list[dict[str, Any]], now: datetime | None = None) -> UpsertResult:
    """Insert or update positions by (account, symbol), all rows or none, then re-margin them.

    A row: account, symbol, side, quantity, entry_price, isolated_margin (decimals as strings).
    """
    now = now or timezone.now()
    known, errors, clean = _known_symbols(), [], []
    seen: set[tuple[str, str]] = set()
    for i, row in enumerate(rows):
        where = f"rows[{i}]"
        if not isinstance(row, dict):
            errors.append({"path": where, "message": "expected an object"})
            continue
        account, symbol, side = row.get("account"), row.get("symbol"), row.get("side")
        if not isinstance(account, str) or not account.strip() or len(account) > 64:
            errors.append({"path": f"{where}.account", "message": "required: the account code (at most 64 characters)"})
        elif not account.isprintable():  # a control character, a NUL, a lone surrogate: no database takes them all
            errors.append({"path": f"{where}.account",
                           "message": f"may hold printable characters only, got {account!r}"})
        if not _known(symbol, known):
            errors.append({"path": f"{where}.symbol", "message": f"unknown contract {symbol!r}"})
        if side not in ("long", "short"):
            errors.append({"path": f"{where}.side", "message": f"must be long or short, got {side!r}"})
        values = [_decimal(row, k, where, errors, model=Position, positive=k != "isolated_margin")
                  for k in ("quantity", "entry_price", "isolated_margin")]
        _unknown_fields(row, POSITION_FIELDS, where, errors)
        if isinstance(account, str) and isinstance(symbol, str):
            if (account, symbol) in seen:
                errors.append({"path": where, "message": f"duplicate position {account}/{symbol} in this upsert"})
            seen.add((account, symbol))
        clean.append((account, symbol, side, *values))
    if not rows:
        errors.append({"path": "rows", "message": "no rows"})
    _fail_if(errors, "positions")
    codes = sorted({c[0] for c in clean})
    Account.objects.bulk_create([Account(code=c) for c in codes], ignore_conflicts=True)
    account_ids = dict(Account.objects.filter(code__in=codes).values_list("code", "id"))
    # rows of existing positions in id order, as a chunk's UPDATE locks them, then the new ones
    existing_ids = dict(((acc, sym), pk) for pk, acc, sym in Position.objects.filter(
        account_id__in=account_ids.values(), symbol__in={c[1] for c in clean}).values_list("id", "account_id", "symbol"))
    existing = set(existing_ids)
    clean.sort(key=lambda c: existing_ids.get((account_ids[c[0]], c[1]), float("inf")))  # stable: new in order
    objs = [Position(account_id=account_ids[a], symbol=s, side=side, quantity=q, entry_price=ep, isolated_margin=wb,
                     updated_at=now) for a, s, side, q, ep, wb in clean]
    Position.objects.bulk_create(objs, batch_size=5000, update_conflicts=True, unique_fields=["account", "symbol"],
                                 update_fields=["side", "quantity", "entry_price", "isolated_margin", "updated_at"])
    keys = {(account_ids[a], s) for a, s, *_ in clean}
    ids = sorted(pk for pk, acc, sym in Position.objects.filter(account_id__in=account_ids.values(),
                                                                 symbol__in={c[1] for c in clean})
                 .values_list("id", "account_id", "symbol") if (acc, sym) in keys)
    created = len(keys - existing)
    positions_remargin(ids=ids, symbols=sorted({c[1] for c in clean}), now=now)
    return UpsertResult(len(clean), created, len(clean) - created)


def positions_remargin(*, ids: list[int], symbols: list[str], now: datetime) -> None:
    """Re-margin the positions `ids` of `symbols` with the parameters in force, set-based; inside
    the caller's transaction."""
    if not ids:
        return
    _scope_share_lock(symbols)
    terms = terms_current(symbols=symbols)
    size = _chunk_size()
    for start in range(0, len(ids), size):
        part = ids[start:start + size]
        chunk_remargin(first_id=part[0], last_id=part[-1], ids=part, terms=terms, rollout_id=None, now=now)


@conflict_retry()
@transaction.atomic
def market_data_upsert(*, rows: list[dict[str, Any]], now: datetime | None = None) -> list[Rollout]:
    """Mark prices and realized volatility per contract, all rows or none. A row without
    volatility keeps the contract's last known one. A contract whose mark or volatility band
    changed gets its positions re-margined by a rollout."""
    now = now or timezone.now()
    known, errors, clean = _known_symbols(), [], []
    for i, row in enumerate(rows):
        where = f"rows[{i}]"
        if not isinstance(row, dict):
            errors.append({"path": where, "message": "expected an object"})
            continue
        symbol = row.get("symbol")
        if not _known(symbol, known):
            errors.append({"path": f"{where}.symbol", "message": f"unknown contract {symbol!r}"})
        elif symbol in [c[0] for c in clean]:
            errors.append({"path": f"{where}.symbol", "message": f"duplicate contract {symbol!r} in this upsert"})
        mark = _decimal(row, "mark_price", where, errors, model=MarketData)
        vol = _decimal(row, "realized_volatility", where, errors, model=MarketData, positive=False, optional=True)
        _unknown_fields(row, MARKET_DATA_FIELDS, where, errors)
        clean.append((symbol, mark, vol))
    if not rows:
        errors.append({"path": "rows", "message": "no rows"})
    _fail_if(errors, "market data")
    symbols = sorted({c[0] for c in clean})
    _scope_exclusive_lock(symbols)
    bands_before = {s: t.band for s, t in terms_current(symbols=symbols).items()}
    before = {m.symbol: m for m in MarketData.objects.filter(symbol__in=symbols)}
    # a row without volatility keeps the last known one: a mark-only feed must not drop the
    # contract to its lowest band (and lower its margins)
    for with_volatility in (True, False):
        MarketData.objects.bulk_create(
            [MarketData(symbol=s, mark_price=m, realized_volatility=v, updated_at=now)
             for s, m, v in clean if (v is not None) == with_volatility],
            update_conflicts=True, unique_fields=["symbol"],
            update_fields=["mark_price", *(["realized_volatility"] if with_volatility else []), "updated_at"])
    bands_after = {s: t.band for s, t in terms_current(symbols=symbols).items()}
    band_changed = sorted(s for s in symbols if bands_before.get(s) != bands_after.get(s))
    mark_changed = sorted(s for s, m, _ in clean if s not in band_changed and
                          (s not in before or before[s].mark_price != m))
    rollouts = []
    if band_changed:
        rollouts.append(rollout_start(trigger=Rollout.Trigger.BAND, symbols=band_changed, now=now))
    if mark_changed:
        rollouts.append(rollout_start(trigger=Rollout.Trigger.MARK, symbols=mark_changed, now=now))
    return rollouts
