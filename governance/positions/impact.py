"""Impact preview: what activating a version would do to the current book, before anyone approves.

Both sides are computed from one snapshot of the book with the same code that re-margins it
(`remargin.POSITION_SQL` on PostgreSQL, the engine on SQLite): "before" with the parameters in
force, "after" with the version in their place. So the difference is the parameter change
alone, not a mark price that moved since the positions were last re-margined.

A preview is stored with the version's content hash and a fingerprint of the book (positions,
entry notional, marks, volatility bands, versions in force). A preview of other content is never shown as the
version's; one whose book has since moved materially (`IMPACT_PREVIEW_TOLERANCE`) is
recomputed by the periodic refresh.
"""
from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Iterable, Iterator

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, DecimalField, F, Q, Sum
from django.utils import timezone

from governance.errors import InvalidTransition, NotFound, ValidationFailed
from governance.parameters.models import ParameterVersion, Subject, VersionState
from governance.parameters.selectors import version_data
from governance.positions.models import Account, ImpactPreview, MarketData, Position
from governance.margin import InvalidSchedule
from governance.margin.numbers import decimal_text
from governance.positions.remargin import POSITION_SQL, TERMS_CTES, position_compute, terms_json
from governance.positions.terms import ContractTerms, terms_current

PREVIEWABLE = (VersionState.SUBMITTED, VersionState.APPROVED, VersionState.SCHEDULED)
NO_PARAMETERS = "no_parameters"
# Worse is higher. Beyond the last tier the schedule cannot margin a position at all: the
# worst. A position without parameters (before its contract's first version) has no status
# to compare: such a transition is neither worse nor better.
_RANK = {"healthy": 0, "margin_call": 1, "liquidatable": 2, "beyond_tiers": 3}


def _worse(before: str, after: str) -> bool:
    return before in _RANK and after in _RANK and _RANK[after] > _RANK[before]


def _better(before: str, after: str) -> bool:
    return before in _RANK and after in _RANK and _RANK[after] < _RANK[before]
TOP_ACCOUNTS = 10
# How far the liquidation price moved towards (+) or away from (-) the mark, as a share of the mark.
MOVE_BUCKETS = ((Decimal("-0.05"), "away by more than 5%"), (Decimal("-0.01"), "away by 1% to 5%"),
                (Decimal("0"), "away by up to 1%"), (None, "unchanged"), (Decimal("0.01"), "closer by up to 1%"),
                (Decimal("0.05"), "closer by 1% to 5%"), (Decimal("Infinity"), "closer by more than 5%"))


@dataclass(frozen=True)
class ImpactRow:
    """One position, before and after."""
    account_id: int
    side: str
    mark: Decimal
    status_before: str
    status_after: str
    im_before: Decimal | None
    im_after: Decimal | None
    mm_before: Decimal | None
    mm_after: Decimal | None
    lp_before: Decimal | None
    lp_after: Decimal | None


def _tolerance() -> Decimal:
    return Decimal(str(getattr(settings, "IMPACT_PREVIEW_TOLERANCE", "0.05")))


def preview_scope(version: ParameterVersion) -> list[str]:
    """The contracts a version's activation re-margins: its own, or every active one (exchange-wide)."""
    if version.subject.kind == Subject.Kind.EXCHANGE:
        return sorted(terms_current())
    return [version.subject.key]


# --- the book's fingerprint -------------------------------------------------------------

def book_fingerprint(*, symbols: list[str], version: ParameterVersion) -> dict:
    """What a preview of `version` depends on, besides the version: the versions in force over
    the scope, the volatility bands (under the parameters in force, and under the version's own
    bands), the positions (count, entry notional, of it the longs', isolated margin) and the marks."""
    versions = dict(ParameterVersion.objects.filter(state=VersionState.ACTIVE, subject__key__in=[
        *symbols, Subject.EXCHANGE_KEY]).values_list("subject__key", "pk"))
    wide = DecimalField(max_digits=76, decimal_places=36)
    book = Position.objects.filter(symbol__in=symbols).aggregate(
        positions=Count("id"), notional=Sum(F("quantity") * F("entry_price"), output_field=wide),
        long_notional=Sum(F("quantity") * F("entry_price"), output_field=wide, filter=Q(side="long")),
        margin=Sum("isolated_margin"))
    marks = dict(MarketData.objects.filter(symbol__in=symbols).values_list("symbol", "mark_price"))
    bands = {s: t.band for s, t in terms_current(symbols=symbols).items()}
    try:  # a version that moves a band's bounds: the volatility can cross them and not those in force
        after = {s: t.band for s, t in terms_current(symbols=symbols, overrides={version.subject.key: version}).items()}
    except InvalidSchedule:  # it no longer combines with what is in force: the preview says so
        after = {}
    return {"versions": {k: versions[k] for k in sorted(versions)}, "bands": {s: bands[s] for s in sorted(bands)},
            "bands_after": {s: after[s] for s in sorted(after)},
            "positions": book["positions"],
            "entry_notional": decimal_text(Decimal(book["notional"] or 0)),
            "long_entry_notional": decimal_text(Decimal(book["long_notional"] or 0)),
            "isolated_margin": decimal_text(Decimal(book["margin"] or 0)),
            "marks": {s: decimal_text(marks[s]) for s in sorted(marks)}}


def _relative(old: Decimal, new: Decimal) -> Decimal:
    if old == new:
        return Decimal(0)
    return abs(new - old) / abs(old) if old else Decimal("Infinity")


def fingerprint_moves(old: dict, new: dict, *, tolerance: Decimal | None = None) -> list[str]:
    """Why the book of `new` differs materially from that of `old` (empty: it does not)."""
    tolerance = _tolerance() if tolerance is None else tolerance
    moves = []
    if old.get("versions") != new.get("versions"):
        moves.append("the parameters in force changed")
    old_bands = old.get("bands", new["bands"])  # a fingerprint stored before bands were: no move
    for symbol, band in new["bands"].items():
        if old_bands.get(symbol) != band:
            moves.append(f"{symbol} volatility band {old_bands.get(symbol, 'none')} -> {band}")
    old_after = old.get("bands_after", new["bands_after"])  # stored before bands_after were: no move
    for symbol, band in new["bands_after"].items():
        moved = (old_after.get(symbol), band)
        if moved[0] != band and moved != (old_bands.get(symbol), new["bands"].get(symbol)):  # not said above
            moves.append(f"{symbol} volatility band under the version {moved[0] or 'none'} -> {band}")
    if _relative(Decimal(old.get("positions", 0)), Decimal(new["positions"])) > tolerance:
        moves.append(f"positions {old.get('positions', 0)} -> {new['positions']}")
    if _relative(Decimal(old.get("entry_notional", "0")), Decimal(new["entry_notional"])) > tolerance:
        moves.append(f"entry notional {old.get('entry_notional', '0')} -> {new['entry_notional']}")
    # sides turned, margin added or withdrawn: the same count and notional, another book
    for key, name in (("long_entry_notional", "long entry notional"), ("isolated_margin", "isolated margin")):
        if key in old and _relative(Decimal(old[key]), Decimal(new[key])) > tolerance:  # older previews lack it
            moves.append(f"{name} {old[key]} -> {new[key]}")
    old_marks = old.get("marks", {})
    for symbol, mark in new["marks"].items():
        if symbol not in old_marks or _relative(Decimal(old_marks[symbol]), Decimal(mark)) > tolerance:
            moves.append(f"{symbol} mark {old_marks.get(symbol, 'none')} -> {mark}")
    return moves


# --- computing --------------------------------------------------------------------------

_BEFORE_TABLE = "impact_preview_before"


# Every position of the terms' contracts, with its computed margin.
_COMPUTED = f"""WITH {TERMS_CTES}
SELECT pp.id, pp.account_id, pp.side, COALESCE(ct.mark_price, pp.entry_price) AS px, v.new_status, v.im, v.mm, v.lp
FROM positions_position pp JOIN ct ON ct.symbol = pp.symbol CROSS JOIN LATERAL ({POSITION_SQL}) v"""


def _rows_sql(before: dict[str, ContractTerms], after: dict[str, ContractTerms]) -> Iterator[ImpactRow]:
    """PostgreSQL: "before" into a temporary table, then "after" joined to it, streamed."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_BEFORE_TABLE}")
        contracts, tiers = terms_json(before)
        cursor.execute(f"CREATE TEMPORARY TABLE {_BEFORE_TABLE} ON COMMIT DROP AS "
                       f"SELECT id, new_status, im, mm, lp FROM ({_COMPUTED}) s",
                       {"contracts": contracts, "tiers": tiers})
    contracts, tiers = terms_json(after)
    with connection.chunked_cursor() as cursor:
        cursor.execute(f"SELECT s.account_id, s.side, s.px, b.new_status, s.new_status, b.im, s.im, b.mm, s.mm, b.lp, "
                       f"s.lp FROM ({_COMPUTED}) s LEFT JOIN {_BEFORE_TABLE} b ON b.id = s.id",
                       {"contracts": contracts, "tiers": tiers})
        for account, side, mark, was, now, im_b, im_a, mm_b, mm_a, lp_b, lp_a in cursor:
            yield ImpactRow(account, side, mark, was or NO_PARAMETERS, now, im_b, im_a, mm_b, mm_a, lp_b, lp_a)


def _rows_engine(before: dict[str, ContractTerms], after: dict[str, ContractTerms]) -> Iterator[ImpactRow]:
    """SQLite: both sides through the engine."""
    marks = dict(MarketData.objects.filter(symbol__in=list(after)).values_list("symbol", "mark_price"))
    positions = Position.objects.filter(symbol__in=list(after)).values(
        "account_id", "symbol", "side", "quantity", "entry_price", "isolated_margin")
    for row in positions.iterator(chunk_size=5000):
        mark = marks.get(row["symbol"])
        new = position_compute(row, after[row["symbol"]], mark)
        old = position_compute(row, before[row["symbol"]], mark) if row["symbol"] in before else None
        yield ImpactRow(row["account_id"], row["side"], mark or row["entry_price"],
                        old["status"] if old else NO_PARAMETERS, new["status"],
                        old and old["initial_margin"], new["initial_margin"], old and old["maintenance_margin"],
                        new["maintenance_margin"], old and old["liquidation_price"], new["liquidation_price"])


def _move(row: ImpactRow) -> Decimal | None:
    """How far the liquidation price moved towards the mark, as a share of the mark."""
    if row.lp_before is None or row.lp_after is None or not row.mark:
        return None
    towards = row.lp_after - row.lp_before if row.side == "long" else row.lp_before - row.lp_after
    return towards / row.mark


def _quantile(ordered: list[Decimal], q: Decimal) -> str | None:
    if not ordered:
        return None
    return decimal_text(ordered[min(len(ordered) - 1, int(q * len(ordered)))].quantize(Decimal("0.000001")))


def impact_summarize(rows: Iterable[ImpactRow], *, symbols: list[str]) -> dict:
    """Transitions by status, totals of initial and maintenance margin, the most affected
    accounts and the distribution of liquidation-price moves; every amount exact.

    Margins are compared like for like: the totals and the accounts' changes are over the
    positions margined on both sides; those without margin on one side (beyond the last tier,
    or no parameters yet) are counted apart, in `margins_left_out`."""
    transitions: Counter = Counter()
    totals = {"im_before": Decimal(0), "im_after": Decimal(0), "mm_before": Decimal(0), "mm_after": Decimal(0)}
    accounts: dict[int, list] = defaultdict(lambda: [0, Decimal(0), Decimal(0), 0])
    buckets: Counter = Counter()
    moves: list[Decimal] = []
    count = left_out = 0
    for row in rows:
        count += 1
        transitions[(row.status_before, row.status_after)] += 1
        account = accounts[row.account_id]
        account[0] += 1
        if row.mm_before is None or row.mm_after is None:
            left_out += 1
        else:
            totals["im_before"] += row.im_before
            totals["im_after"] += row.im_after
            totals["mm_before"] += row.mm_before
            totals["mm_after"] += row.mm_after
            account[1] += row.mm_after - row.mm_before
            account[2] += row.im_after - row.im_before
        if _worse(row.status_before, row.status_after):
            account[3] += 1
        move = _move(row)
        if move is None:
            buckets["no liquidation price"] += 1
        elif move == 0:
            buckets["unchanged"] += 1
        else:
            buckets[next(label for bound, label in MOVE_BUCKETS if bound is not None and move <= bound)] += 1
            moves.append(move)
    top = sorted(accounts.items(), key=lambda item: (-item[1][1], item[0]))[:TOP_ACCOUNTS]
    codes = dict(Account.objects.filter(pk__in=[pk for pk, _ in top]).values_list("pk", "code"))
    moves.sort()
    return {
        "symbols": symbols,
        "positions": count,
        "transitions": [{"from": a, "to": b, "positions": n} for (a, b), n in sorted(transitions.items())],
        "worsened": sum(n for (a, b), n in transitions.items() if _worse(a, b)),
        "improved": sum(n for (a, b), n in transitions.items() if _better(a, b)),
        "margins_left_out": left_out,
        "initial_margin": {"before": decimal_text(totals["im_before"]), "after": decimal_text(totals["im_after"]),
                           "change": decimal_text(totals["im_after"] - totals["im_before"])},
        "maintenance_margin": {"before": decimal_text(totals["mm_before"]), "after": decimal_text(totals["mm_after"]),
                               "change": decimal_text(totals["mm_after"] - totals["mm_before"])},
        "accounts": [{"account": codes.get(pk, str(pk)), "positions": n, "maintenance_margin_change": decimal_text(mm),
                      "initial_margin_change": decimal_text(im), "worsened": worse} for pk, (n, mm, im, worse) in top
                     if mm or im or worse],
        "liquidation_moves": {
            "buckets": [{"move": label, "positions": buckets[label]} for label in
                        ["no liquidation price", *(label for _, label in MOVE_BUCKETS)] if buckets[label]],
            "moved": len(moves), "p50": _quantile(moves, Decimal("0.5")), "p90": _quantile(moves, Decimal("0.9")),
            "p99": _quantile(moves, Decimal("0.99")), "max": _quantile(moves, Decimal(1))},
    }


def _preview_fill(preview: ImpactPreview, *, now: datetime) -> None:
    """Compute into `preview`: the fingerprint and both sides from one snapshot."""
    started = time.perf_counter()
    version = preview.version
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:  # one snapshot for the fingerprint and both sides
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        symbols = preview_scope(version)
        preview.fingerprint = book_fingerprint(symbols=symbols, version=version)
        before = terms_current(symbols=symbols)
        try:
            after = terms_current(symbols=symbols, overrides={version.subject.key: version})
        except InvalidSchedule as exc:
            # validated when submitted, but what it combines with has changed since: activation
            # would refuse it too (parameters.services.version_activate)
            preview.state, preview.computed_at = ImpactPreview.State.FAILED, now
            preview.error = f"{version} no longer validates with the parameters in force: {exc.message}"
            preview.seconds = round(time.perf_counter() - started, 3)
            return
        rows = _rows_sql(before, after) if connection.vendor == "postgresql" else _rows_engine(before, after)
        preview.result = impact_summarize(rows, symbols=sorted(after))
    preview.state, preview.computed_at, preview.error = ImpactPreview.State.DONE, now, ""
    preview.seconds = round(time.perf_counter() - started, 3)


# --- services ---------------------------------------------------------------------------

def _previewable_check(version: ParameterVersion) -> None:
    if version.state not in PREVIEWABLE:
        raise InvalidTransition(f"{version} is {version.state}: an impact preview is computed for a submitted, "
                                f"approved or scheduled version")
    if version_data(version) is None:
        raise ValidationFailed(f"{version} does not validate: no impact preview")


@transaction.atomic
def impact_preview_request(*, version: ParameterVersion, now: datetime | None = None) -> ImpactPreview:
    """Ask a worker for a preview of `version` on the book as it is now. A request for the
    same content still waiting is reused rather than doubled."""
    now = now or timezone.now()
    _previewable_check(version)
    waiting = ImpactPreview.objects.select_for_update().filter(
        version=version, content_hash=version.content_hash, state=ImpactPreview.State.PENDING).first()
    if waiting is not None:
        if waiting.requested_at > now - timedelta(seconds=settings.IMPACT_PREVIEW_RESEND_SECONDS):
            return waiting
        # waited too long: its message was lost, or a worker died with it; sent again
        preview = waiting
        preview.requested_at = now
        preview.save(update_fields=["requested_at"])
    else:
        preview = ImpactPreview.objects.create(version=version, content_hash=version.content_hash, requested_at=now)
    # robust: a broker out of reach leaves the request pending, for the refresh to send again,
    # rather than failing what has just committed (the submission, say)
    transaction.on_commit(lambda: _dispatch(preview.pk), robust=True)
    return preview


def _dispatch(preview_id: int) -> None:
    from governance.positions.tasks import impact_preview_run_task

    impact_preview_run_task.delay(preview_id)


def impact_preview_run(*, preview_id: int, now: datetime | None = None) -> ImpactPreview:
    """Compute a requested preview (the worker's side). A preview already computed is left as it is."""
    preview = ImpactPreview.objects.select_related("version__subject").filter(pk=preview_id).first()
    if preview is None:
        raise NotFound(f"no impact preview {preview_id}")
    if preview.state != ImpactPreview.State.PENDING:
        return preview
    if preview.version.content_hash != preview.content_hash:
        preview.state, preview.error = ImpactPreview.State.FAILED, "the version's content changed"
        preview.save(update_fields=["state", "error"])
        return preview
    _preview_fill(preview, now=now or timezone.now())
    preview.save()
    return preview


@transaction.atomic
def impact_preview_fail(*, preview_id: int, error: str, now: datetime | None = None) -> ImpactPreview | None:
    """Record that computing a pending preview failed for good (the worker gave up), so the
    approval page says so rather than "computing" for ever."""
    preview = ImpactPreview.objects.select_for_update().filter(pk=preview_id).first()
    if preview is None or preview.state != ImpactPreview.State.PENDING:
        return preview
    preview.state, preview.computed_at, preview.error = ImpactPreview.State.FAILED, now or timezone.now(), error
    preview.save(update_fields=["state", "computed_at", "error"])
    return preview


def impact_preview_compute(*, version: ParameterVersion, now: datetime | None = None) -> ImpactPreview:
    """Compute and store a preview of `version` here and now (commands, the benchmark)."""
    now = now or timezone.now()
    _previewable_check(version)
    preview = ImpactPreview(version=version, content_hash=version.content_hash, requested_at=now)
    _preview_fill(preview, now=now)
    preview.save()
    return preview


def impact_previews_refresh(*, now: datetime | None = None) -> list[ImpactPreview]:
    """The periodic safety net: request a preview for every version awaiting a decision that
    has none for its content, or whose book has moved materially since, and send again a
    request left pending too long. A preview that failed is tried again as often: the
    database the worker lost, or the parameters it no longer combined with, may be back."""
    now = now or timezone.now()
    resend = now - timedelta(seconds=settings.IMPACT_PREVIEW_RESEND_SECONDS)
    lost = set(ImpactPreview.objects.filter(
        state=ImpactPreview.State.PENDING, version__state__in=PREVIEWABLE, content_hash=F("version__content_hash"),
        requested_at__lte=resend).values_list("version_id", flat=True))
    requested = []
    for version in ParameterVersion.objects.filter(state__in=PREVIEWABLE).select_related("subject"):
        latest = impact_preview_latest(version=version)
        due = version.pk in lost or latest.state in ("none", "stale") or (
            latest.state == "failed" and latest.preview.computed_at <= resend)
        if due and version_data(version) is not None:
            requested.append(impact_preview_request(version=version, now=now))
    return requested


# --- reads ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PreviewStatus:
    """The preview to show for a version: state 'none', 'pending', 'failed', 'done' or 'stale'
    (done, on a book that has moved materially since: `moves` says how)."""
    state: str
    preview: ImpactPreview | None
    moves: tuple[str, ...] = ()
    recomputing: bool = False


def impact_preview_latest(*, version: ParameterVersion) -> PreviewStatus:
    previews = ImpactPreview.objects.filter(version=version, content_hash=version.content_hash)
    done = previews.filter(state=ImpactPreview.State.DONE).order_by("-computed_at", "-id").first()
    waiting = previews.filter(state=ImpactPreview.State.PENDING).first()
    failed = previews.filter(state=ImpactPreview.State.FAILED).order_by("-id").first()
    if done is None or (failed is not None and failed.pk > done.pk and waiting is None):
        # a failure after the last result: the version no longer combines with what is in force
        if waiting is not None:
            return PreviewStatus("pending", waiting)
        return PreviewStatus("failed", failed) if failed else PreviewStatus("none", None)
    moves = fingerprint_moves(done.fingerprint, book_fingerprint(symbols=preview_scope(version), version=version))
    if moves:
        return PreviewStatus("stale", done, tuple(moves), recomputing=waiting is not None)
    return PreviewStatus("done", done, recomputing=waiting is not None)
