"""Isolated positions, market data, rollouts of parameter changes, and the margin-event outbox."""
from __future__ import annotations

from django.db import models
from django.db.models import Q

AMOUNT = dict(max_digits=38, decimal_places=18)


class PositionStatus(models.TextChoices):
    PENDING = "pending", "Not computed yet"
    HEALTHY = "healthy", "Healthy"
    MARGIN_CALL = "margin_call", "Margin call"
    LIQUIDATABLE = "liquidatable", "Liquidatable"
    BEYOND_TIERS = "beyond_tiers", "Notional beyond the last tier"
    NO_PARAMETERS = "no_parameters", "No active parameters"


class Account(models.Model):
    code = models.CharField(max_length=64, unique=True, help_text="The exchange's account identifier.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.code


class MarketData(models.Model):
    """Mark price and realized volatility of one contract, from the exchange's market data."""

    symbol = models.CharField(max_length=40, primary_key=True)
    mark_price = models.DecimalField(**AMOUNT)
    realized_volatility = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "market data"

    def __str__(self) -> str:
        return f"{self.symbol} @ {self.mark_price}"


class Position(models.Model):
    """One isolated position (one-way mode: one per account and contract) and its computed margin.

    The computed columns are written only by the set-based re-margining, together with the
    stamp of exactly what was applied.
    """

    # no index of its own: the unique (account, symbol) index leads with it
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="positions", db_index=False)
    symbol = models.CharField(max_length=40)
    side = models.CharField(max_length=5, choices=[("long", "long"), ("short", "short")])
    quantity = models.DecimalField(**AMOUNT)
    entry_price = models.DecimalField(**AMOUNT)
    isolated_margin = models.DecimalField(**AMOUNT)
    updated_at = models.DateTimeField(help_text="Last change of the position itself.")

    notional = models.DecimalField(null=True, blank=True, **AMOUNT)
    tier = models.PositiveSmallIntegerField(null=True, blank=True)
    initial_margin = models.DecimalField(null=True, blank=True, **AMOUNT)
    maintenance_margin = models.DecimalField(null=True, blank=True, **AMOUNT)
    margin_balance = models.DecimalField(null=True, blank=True, **AMOUNT)
    margin_ratio = models.DecimalField(null=True, blank=True, **AMOUNT)
    liquidation_price = models.DecimalField(null=True, blank=True, **AMOUNT)
    status = models.CharField(max_length=16, choices=PositionStatus.choices, default=PositionStatus.PENDING)
    # What the re-margining statement reads back as the old status of a margin event: its
    # RETURNING sees the new row only.
    previous_status = models.CharField(max_length=16, choices=PositionStatus.choices, blank=True, default="",
                                       db_default="", help_text="The status before the latest re-margining.")
    # The stamp changes on every rollout and nothing looks positions up by it: unindexed, so
    # re-margining a position whose status stays put is a HOT update (see migration 0003); and
    # no database constraint (0004): checking three foreign keys of every re-margined row cost
    # a third of a rollout. Only the rollout statement writes the stamp, from the versions it
    # read, and neither versions nor rollouts are ever deleted.
    contract_version = models.ForeignKey("parameters.ParameterVersion", null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="+", db_index=False,
                                         db_constraint=False)
    exchange_version = models.ForeignKey("parameters.ParameterVersion", null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="+", db_index=False,
                                         db_constraint=False)
    volatility_band = models.PositiveSmallIntegerField(null=True, blank=True)
    multiplier = models.DecimalField(null=True, blank=True, **AMOUNT)
    rollout = models.ForeignKey("Rollout", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                db_index=False, db_constraint=False)
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "symbol"], name="one_position_per_account_and_contract"),
            models.CheckConstraint(condition=Q(quantity__gt=0) & Q(entry_price__gt=0) & Q(isolated_margin__gte=0),
                                   name="position_inputs_valid"),
        ]
        # No index on status (0009): a status change would then be an update that is not HOT.
        indexes = [models.Index(fields=["symbol", "id"], name="position_symbol_id_idx")]

    def __str__(self) -> str:
        return f"{self.account.code} {self.symbol} {self.side}"


class Rollout(models.Model):
    """Pushing the parameters in force to every position of a scope, chunk by chunk."""

    class Trigger(models.TextChoices):
        CONTRACT = "contract_version", "Contract version activated"
        EXCHANGE = "exchange_version", "Exchange-wide version activated"
        BAND = "volatility_band", "Volatility band changed"
        MARK = "mark_price", "Mark price changed"
        MANUAL = "manual", "Started by an operator"

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        SUPERSEDED = "superseded", "Superseded"
        FAILED = "failed", "Failed"

    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    symbols = models.JSONField(help_text="The contracts in scope.")
    contract_version = models.ForeignKey("parameters.ParameterVersion", null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="+")
    exchange_version = models.ForeignKey("parameters.ParameterVersion", null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=12, choices=State.choices, default=State.RUNNING)
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    positions_total = models.PositiveBigIntegerField(default=0)
    positions_done = models.PositiveBigIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    events = models.PositiveBigIntegerField(default=0)
    detail = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"rollout #{self.pk} ({self.trigger})"


class RolloutChunk(models.Model):
    """Positions first_id <= id <= last_id of some contracts: `symbols`, or the rollout's scope."""
    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="chunks")
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    # Set when the chunk covers part of the scope only: a rollout that superseded others has
    # chunks over its own contracts and takes over the others' chunks still to do, for theirs.
    symbols = models.JSONField(null=True, blank=True, help_text="The contracts of this chunk; empty: the rollout's.")
    done_at = models.DateTimeField(null=True, blank=True)
    positions = models.PositiveIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["rollout", "first_id", "id"]


class MarginEvent(models.Model):
    """Outbox: a position entered or left margin call, or became liquidatable.

    `seq` is the cursor, not the id: ids are taken when rows are inserted, so with chunks
    committing in parallel a reader could see id 11 before id 10 commits and skip it. The
    writing transaction appends its events last, numbered under a lock held until it commits,
    so sequence numbers become visible in order (`remargin.events_append`).

    Every column is copied from the position's row as the same statement writes it, so the
    references (position, account, the stamp) carry no database constraint or index: events
    are read by `seq` only, every constraint would be checked per event under that lock
    (migration 0008), and positions and accounts are never deleted (PROTECT, and nothing in
    the application deletes them).
    """

    position = models.ForeignKey(Position, on_delete=models.PROTECT, related_name="events", db_constraint=False,
                                 db_index=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", db_constraint=False,
                                db_index=False)
    symbol = models.CharField(max_length=40)
    old_status = models.CharField(max_length=16)
    new_status = models.CharField(max_length=16)
    margin_ratio = models.DecimalField(null=True, blank=True, **AMOUNT)
    contract_version = models.ForeignKey("parameters.ParameterVersion", null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="+", db_constraint=False,
                                         db_index=False)
    exchange_version = models.ForeignKey("parameters.ParameterVersion", null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="+", db_constraint=False,
                                         db_index=False)
    rollout = models.ForeignKey(Rollout, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                db_constraint=False, db_index=False)
    at = models.DateTimeField()
    seq = models.BigIntegerField(unique=True, help_text="The feed's cursor: gap-free, in commit order.")

    class Meta:
        ordering = ["seq"]


class ImpactPreview(models.Model):
    """What activating a version would do to the book, computed by a worker before approval.

    Tied to the version's content hash and to a fingerprint of the book it was computed on
    (positions, notional, marks and the versions in force), so a preview of other content or
    of a book that has since moved materially is recomputed, never shown as current.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Computing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    version = models.ForeignKey("parameters.ParameterVersion", on_delete=models.CASCADE, related_name="+")
    content_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    requested_at = models.DateTimeField()
    computed_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="How long the computation took.")
    fingerprint = models.JSONField(default=dict, help_text="The book the preview was computed on.")
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["version", "-requested_at"], name="impact_version_latest_idx")]

    def __str__(self) -> str:
        return f"impact preview #{self.pk} of version {self.version_id}"
