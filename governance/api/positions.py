"""The book over the API: positions and their margin, bulk upserts for the exchange's position
service, the margin-event feed, rollouts and their progress, and the what-if.

Reads need a reading role; the upserts only the position service. Decimals travel as strings in
plain notation, exact both ways: a JSON float is refused on input, never rounded.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import django_filters
from django.conf import settings
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound as CursorNotFound
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import position_selectors as selectors
from governance.api.bodies import StrictSerializer, body_valid, input_valid
from governance.api.pagination import DocumentedBounds
from governance.api.permissions import CanRead, IsPositionService
from governance.api.selectors import snapshot
from governance.api.serializers import error_responses
from governance.margin.numbers import decimal_parse, decimal_text
from governance.positions import services
from governance.positions.models import PositionStatus, Rollout

SIDES = [("long", "long"), ("short", "short")]
STATUS_HELP = f"a position status: {', '.join(PositionStatus.values)}"


def upsert_max_rows() -> int:
    return settings.API_UPSERT_MAX_ROWS


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return error_responses(*codes, 401, 403, 429)


# --- fields -----------------------------------------------------------------------------

@extend_schema_field({"type": "string", "format": "decimal", "description": "exact decimal, plain notation"})
class DecimalText(serializers.Field):
    """A Decimal out as a string in plain notation, without trailing zeros; None stays null."""

    def __init__(self, **kwargs: Any):
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: Decimal) -> str | None:
        return decimal_text(value)


# plain notation within the columns (38 digits, 18 places); the positive one needs a non-zero digit
_PLAIN = r"(?:0|[1-9][0-9]{0,19})(?:\.[0-9]{1,18})?"
_DECIMAL_IN = {"type": "string", "format": "decimal"}


@extend_schema_field({**_DECIMAL_IN, "pattern": rf"^(?=[0-9.]*[1-9]){_PLAIN}$"})
class ExactDecimal(serializers.DecimalField):
    """A positive decimal in: a string (or an integer), as the position columns hold it (38
    digits, 18 places). A JSON float is refused: it may already have lost digits."""

    default_error_messages = {"float": "must be a decimal string or an integer, not a JSON number with a fraction "
                                       "or exponent: {input!r}",
                              "not_positive": "must be positive"}
    positive = True

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("min_value", None if self.positive else Decimal(0))
        super().__init__(max_digits=38, decimal_places=18, **kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, (float, bool)):
            self.fail("float", input=data)
        if isinstance(data, str):
            try:
                decimal_parse(data)
            except ValueError as exc:
                raise serializers.ValidationError(str(exc), code="invalid") from None
        value = super().to_internal_value(data)
        if self.positive and value <= 0:
            self.fail("not_positive")
        return value


@extend_schema_field({**_DECIMAL_IN, "pattern": f"^{_PLAIN}$"})
class ExactAmount(ExactDecimal):
    """Zero or more, otherwise as ExactDecimal."""

    positive = False


# --- pagination -------------------------------------------------------------------------

class IdCursor(DocumentedBounds, CursorPagination):
    """Pages keyed by id: no COUNT, no offset, stable while rows are added. An invalid cursor or
    page size is a 400 like any other bad query parameter, not a 404 or a 500."""

    ordering = "id"
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except CursorNotFound:
            cursor = Cursor(offset=0, reverse=False, position="invalid")
        position = cursor.position if cursor else None
        # the position is compared with the id column: anything but a bigint would fail in the database
        if position is not None and not (position.isascii() and position.isdigit() and int(position) <= selectors.BIGINT_MAX):
            raise ValidationError({self.cursor_query_param: ["invalid cursor: use the next or previous link "
                                                             "of a page"]})
        return cursor


class NewestFirst(IdCursor):
    ordering = "-id"


# --- positions --------------------------------------------------------------------------

class MarginStateSerializer(serializers.Serializer):
    notional = DecimalText(allow_null=True)
    tier = serializers.IntegerField(allow_null=True, help_text="the tier of the notional")
    initial_margin = DecimalText(allow_null=True)
    maintenance_margin = DecimalText(allow_null=True)
    margin_balance = DecimalText(allow_null=True, help_text="isolated margin + unrealized PnL at the mark")
    margin_ratio = DecimalText(allow_null=True, help_text="maintenance margin / margin balance; null when the "
                                                            "balance is not positive")
    liquidation_price = DecimalText(allow_null=True, help_text="null when no positive price liquidates it")
    status = serializers.ChoiceField(choices=PositionStatus.choices)


class AppliedSerializer(serializers.Serializer):
    contract_version = serializers.IntegerField(allow_null=True, help_text="contract version number")
    exchange_version = serializers.IntegerField(allow_null=True, help_text="exchange-wide version number")
    volatility_band = serializers.IntegerField(allow_null=True)
    multiplier = DecimalText(allow_null=True, help_text="band x global x group")


class StampSerializer(AppliedSerializer):
    contract_version = serializers.IntegerField(source="contract_version_number", allow_null=True,
                                                help_text="contract version number")
    exchange_version = serializers.IntegerField(source="exchange_version_number", allow_null=True,
                                                help_text="exchange-wide version number")
    rollout = serializers.IntegerField(source="rollout_id", allow_null=True,
                                       help_text="the rollout that computed it; null for an upsert")
    stamped_at = serializers.DateTimeField(source="computed_at", allow_null=True)


class PositionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.CharField(source="account_code")
    symbol = serializers.CharField()
    side = serializers.ChoiceField(choices=SIDES)
    quantity = DecimalText()
    entry_price = DecimalText()
    isolated_margin = DecimalText()
    updated_at = serializers.DateTimeField()
    margin = MarginStateSerializer(source="*")
    stamp = StampSerializer(source="*", help_text="what was applied: the versions, band and multiplier")


class PositionFilter(django_filters.FilterSet):
    symbol = django_filters.CharFilter(help_text="contract symbol")
    account = django_filters.CharFilter(field_name="account__code", help_text="account code")
    status = django_filters.ChoiceFilter(choices=PositionStatus.choices)
    side = django_filters.ChoiceFilter(choices=SIDES)


class PositionList(generics.ListAPIView):
    """Positions with their margin, by id; filter by contract, account, status and side."""

    permission_classes = [CanRead]
    serializer_class = PositionSerializer
    pagination_class = IdCursor
    filterset_class = PositionFilter

    def get_queryset(self):
        return selectors.positions_query()

    @extend_schema(responses={200: PositionSerializer(many=True), **_errors(400)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class PositionDetail(APIView):
    permission_classes = [CanRead]

    @extend_schema(responses={200: PositionSerializer, **_errors(404)})
    def get(self, request: Request, position_id: int) -> Response:
        """One position: its margin state and the stamp of what was applied."""
        return Response(PositionSerializer(selectors.position_get(position_id=position_id)).data)


# --- upserts ----------------------------------------------------------------------------

class PositionRowSerializer(serializers.Serializer):
    """One position row (documentation: the service validates the rows and locates errors)."""

    account = serializers.CharField(max_length=64)
    symbol = serializers.CharField(max_length=40)
    side = serializers.ChoiceField(choices=SIDES)
    quantity = serializers.CharField(help_text="decimal string (or integer), > 0")
    entry_price = serializers.CharField(help_text="decimal string (or integer), > 0")
    isolated_margin = serializers.CharField(help_text="decimal string (or integer), >= 0")


class MarketDataRowSerializer(serializers.Serializer):
    symbol = serializers.CharField(max_length=40)
    mark_price = serializers.CharField(help_text="decimal string (or integer), > 0")
    realized_volatility = serializers.CharField(required=False, allow_null=True,
                                                help_text="decimal string (or integer), >= 0; picks the "
                                                          "volatility band; absent: the last known one stays")


class _AsSent(serializers.Field):
    """One row, any JSON value (null, a number the parser read as infinity): the service says
    what is wrong with it, where. A JSONField child would answer rows.0 "Value must be valid
    JSON." for a mark of 1e400, naming neither the field nor the fault."""

    def __init__(self, **kwargs: Any):
        super().__init__(allow_null=True, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class Rows(serializers.ListField):
    """The rows as sent: their fields are checked by the service, which locates every error
    as rows[i].field and writes nothing if there is one."""

    def __init__(self, **kwargs: Any):
        super().__init__(child=_AsSent(), max_length=upsert_max_rows(), **kwargs)


@extend_schema_field(PositionRowSerializer(many=True))
class PositionRows(Rows):
    pass


@extend_schema_field(MarketDataRowSerializer(many=True))
class MarketDataRows(Rows):
    pass


class PositionsUpsertSerializer(StrictSerializer):
    rows = PositionRows(help_text="at most API_UPSERT_MAX_ROWS (10,000) rows; all or none are written")


class MarketDataUpsertSerializer(StrictSerializer):
    rows = MarketDataRows(help_text="at most API_UPSERT_MAX_ROWS (10,000) rows, one per contract; all or none")


class PositionsUpsertedSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


class RolloutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    trigger = serializers.ChoiceField(choices=Rollout.Trigger.choices)
    state = serializers.CharField(help_text="running, completed, superseded or failed")
    symbols = serializers.ListField(child=serializers.CharField(), help_text="the contracts in scope")
    contract_version = serializers.IntegerField(allow_null=True, help_text="the contract version number it applies")
    exchange_version = serializers.IntegerField(allow_null=True)
    superseded_by = serializers.IntegerField(allow_null=True, help_text="the newer rollout that took over its scope")
    positions_total = serializers.IntegerField()
    positions_done = serializers.IntegerField()
    chunks_total = serializers.IntegerField()
    chunks_done = serializers.IntegerField()
    events = serializers.IntegerField(help_text="margin events it emitted")
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    detail = serializers.CharField(allow_blank=True)


class MarketDataUpsertedSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    rollouts = RolloutSerializer(many=True, help_text="rollouts started for changed marks or bands")


class PositionsUpsert(APIView):
    permission_classes = [IsPositionService]

    @extend_schema(request=PositionsUpsertSerializer, responses={200: PositionsUpsertedSerializer,
                                                                 **_errors(400, 415)})
    def post(self, request: Request) -> Response:
        """Insert or update positions by (account, symbol) and re-margin them; all rows or none."""
        rows = body_valid(PositionsUpsertSerializer, request)["rows"]
        result = services.positions_upsert(rows=rows)
        return Response({"rows": result.rows, "created": result.created, "updated": result.updated})


class MarketDataUpsert(APIView):
    permission_classes = [IsPositionService]

    @extend_schema(request=MarketDataUpsertSerializer, responses={200: MarketDataUpsertedSerializer,
                                                                  **_errors(400, 415)})
    def post(self, request: Request) -> Response:
        """Mark prices and realized volatility per contract; a changed mark or band starts a rollout."""
        rows = body_valid(MarketDataUpsertSerializer, request)["rows"]
        rollouts = services.market_data_upsert(rows=rows)
        return Response({"rows": len(rows), "rollouts": selectors.rollouts_of(ids=[r.pk for r in rollouts])})


# --- margin events ----------------------------------------------------------------------

class MarginEventsQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(default=0, min_value=0, max_value=selectors.BIGINT_MAX,
                                     help_text="the cursor: the `next` of the previous answer (0 from the start)")
    limit = serializers.IntegerField(default=500, min_value=1, max_value=10000)


class MarginEventSerializer(serializers.Serializer):
    seq = serializers.IntegerField(help_text="gap-free, in commit order: the feed's cursor")
    position = serializers.IntegerField(source="position_id")
    account = serializers.CharField(source="account.code")
    symbol = serializers.CharField()
    # plain strings: the same choice set as a position's status under three names would give the
    # schema three enums (a spectacular warning); the values are those of `status`
    old_status = serializers.CharField(help_text=STATUS_HELP)
    new_status = serializers.CharField(help_text=STATUS_HELP)
    margin_ratio = DecimalText(allow_null=True)
    contract_version = serializers.IntegerField(source="contract_version.number", allow_null=True)
    exchange_version = serializers.IntegerField(source="exchange_version.number", allow_null=True)
    rollout = serializers.IntegerField(source="rollout_id", allow_null=True)
    at = serializers.DateTimeField()


class MarginEventPageSerializer(serializers.Serializer):
    results = MarginEventSerializer(many=True)
    next = serializers.IntegerField(help_text="ask again with after=next: the last seq returned, or the same "
                                              "cursor when nothing is new")


class MarginEventFeed(APIView):
    permission_classes = [CanRead]

    @extend_schema(parameters=[MarginEventsQuerySerializer],
                   responses={200: MarginEventPageSerializer, **_errors(400)})
    def get(self, request: Request) -> Response:
        """Margin events (entering or leaving margin call, becoming liquidatable) in seq order
        after the cursor. Following `next` sees every event exactly once."""
        query = input_valid(MarginEventsQuerySerializer, request.query_params)
        events, cursor = selectors.margin_events_page(after=query["after"], limit=query["limit"])
        return Response({"results": MarginEventSerializer(events, many=True).data, "next": cursor})


# --- rollouts ---------------------------------------------------------------------------

class RolloutFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=Rollout.State.choices)
    trigger = django_filters.ChoiceFilter(choices=Rollout.Trigger.choices)


class RolloutList(generics.ListAPIView):
    """Rollouts, newest first, with their progress."""

    permission_classes = [CanRead]
    serializer_class = RolloutSerializer
    pagination_class = NewestFirst
    filterset_class = RolloutFilter

    def get_queryset(self):
        return selectors.rollouts_query()

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([selectors.rollout_view(r) for r in page])

    @extend_schema(responses={200: RolloutSerializer(many=True), **_errors(400)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class RolloutDetail(APIView):
    permission_classes = [CanRead]

    @extend_schema(responses={200: RolloutSerializer, **_errors(404)})
    def get(self, request: Request, rollout_id: int) -> Response:
        """One rollout's progress: chunks and positions done of total, state, times, trigger, versions."""
        return Response(RolloutSerializer(selectors.rollout_get(rollout_id=rollout_id)).data)


# --- what-if ----------------------------------------------------------------------------

class WhatIfSerializer(StrictSerializer):
    symbol = serializers.CharField(max_length=40)
    side = serializers.ChoiceField(choices=SIDES)
    quantity = ExactDecimal(help_text="decimal string (or integer), > 0")
    entry_price = ExactDecimal(help_text="decimal string (or integer), > 0")
    isolated_margin = ExactAmount(help_text="decimal string (or integer), >= 0")
    mark_price = ExactDecimal(required=False, allow_null=True,
                              help_text="default: the contract's mark price, else the entry price")
    version = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                       help_text="id of a submitted, approved or scheduled version (of this "
                                                 "contract, or exchange-wide): compute under it instead of the "
                                                 "active one")


class WhatIfParametersSerializer(AppliedSerializer):
    proposed_version = serializers.IntegerField(allow_null=True, help_text="the version id tried, if any")


class WhatIfResultSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    side = serializers.ChoiceField(choices=SIDES)
    quantity = DecimalText()
    entry_price = DecimalText()
    isolated_margin = DecimalText()
    mark_price = DecimalText(allow_null=True, help_text="the price it was computed at; null: the entry price")
    margin = MarginStateSerializer(help_text="the same figures a position carries")
    parameters = WhatIfParametersSerializer()


class WhatIf(APIView):
    permission_classes = [CanRead]

    @extend_schema(request=WhatIfSerializer, responses={200: WhatIfResultSerializer, **_errors(400, 404, 415)})
    def post(self, request: Request) -> Response:
        """Run the margin engine on a posted position under the parameters in force, or under a
        proposed version. Writes nothing."""
        given = body_valid(WhatIfSerializer, request)
        with snapshot():
            result = selectors.position_what_if(
                symbol=given["symbol"], side=given["side"], quantity=given["quantity"],
                entry_price=given["entry_price"], isolated_margin=given["isolated_margin"],
                mark_price=given.get("mark_price"), version_id=given.get("version"))
        return Response(WhatIfResultSerializer(result).data)


urlpatterns = [
    path("positions/", PositionList.as_view(), name="positions"),
    path("positions/upsert/", PositionsUpsert.as_view(), name="positions-upsert"),
    path("positions/<int:position_id>/", PositionDetail.as_view(), name="position"),
    path("market-data/upsert/", MarketDataUpsert.as_view(), name="market-data-upsert"),
    path("margin-events/", MarginEventFeed.as_view(), name="margin-events"),
    path("rollouts/", RolloutList.as_view(), name="rollouts"),
    path("rollouts/<int:rollout_id>/", RolloutDetail.as_view(), name="rollout"),
    path("what-if/", WhatIf.as_view(), name="what-if"),
]
