"""Read-only views of the book: positions with their stamp, rollouts with progress, margin events.

Nothing here writes: positions change through the upsert services and the rollouts.
"""
from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from governance.parameters.admin import ReadOnlyMixin, RoleAccessMixin
from governance.positions.models import MarginEvent, MarketData, Position, Rollout


class ReadOnlyAdmin(RoleAccessMixin, ReadOnlyMixin, admin.ModelAdmin):
    pass


@admin.register(Rollout)
class RolloutAdmin(ReadOnlyAdmin):
    list_display = ("id", "trigger", "state", "progress", "positions_done", "positions_total", "events",
                    "scope", "started_at", "finished_at")
    list_filter = ("state", "trigger")
    exclude = ("symbols",)
    readonly_fields = ("trigger", "state", "scope", "contract_version", "exchange_version", "superseded_by",
                       "positions_total", "positions_done", "chunks_total", "chunks_done", "events", "detail",
                       "started_at", "finished_at")

    @admin.display(description="progress")
    def progress(self, obj: Rollout) -> str:
        percent = 100 if not obj.positions_total else int(100 * obj.positions_done / obj.positions_total)
        return format_html('<progress value="{}" max="100" title="{} of {} chunks"></progress> {}%',
                           percent, obj.chunks_done, obj.chunks_total, percent)

    @admin.display(description="contracts")
    def scope(self, obj: Rollout) -> str:
        symbols = obj.symbols or []
        return ", ".join(symbols) if len(symbols) <= 4 else f"{len(symbols)} contracts"


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "symbol", "side", "quantity", "entry_price", "isolated_margin", "tier",
                    "maintenance_margin", "margin_ratio", "liquidation_price", "status", "contract_version",
                    "exchange_version", "volatility_band", "computed_at")
    list_filter = ("status", "symbol", "side")
    search_fields = ("account__code", "symbol")
    list_select_related = ("account", "contract_version__subject", "exchange_version__subject")
    show_full_result_count = False  # counting a million rows on every page is not worth it


@admin.register(MarginEvent)
class MarginEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "at", "account", "symbol", "old_status", "new_status", "margin_ratio", "rollout")
    list_filter = ("new_status", "symbol")
    list_select_related = ("account",)
    show_full_result_count = False


@admin.register(MarketData)
class MarketDataAdmin(ReadOnlyAdmin):
    list_display = ("symbol", "mark_price", "realized_volatility", "updated_at")
