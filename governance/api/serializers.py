"""Query parameters (validated) and response shapes (for the OpenAPI schema) of the parameter
endpoints; the bodies themselves are built by the selectors."""
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from governance.parameters.models import Subject, VersionState

DECIMAL = "decimal as a string, exact"


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField(allow_null=True)


_ERROR_MEANINGS = {
    400: "invalid_request (details: the fields at fault), validation_failed (details: located errors) or "
         "parse_error",
    401: "not_authenticated or authentication_failed",
    403: "permission_denied: the role or the four-eyes rule forbids it",
    404: "not_found",
    409: "invalid_transition (not from this state), stale_version (rebase first) or content_frozen",
    422: "policy_violation: a guardrail, the notice, or a content hash that is not the current one",
    415: "unsupported_media_type: bodies are JSON (Content-Type: application/json)",
    429: "throttled",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The schema's error responses of an operation: one shape, each status with its codes."""
    return {status: OpenApiResponse(ErrorSerializer, description=_ERROR_MEANINGS[status]) for status in statuses}


class AsOfQuerySerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(
        required=False, help_text="Answer for this time (effective time): what was in force then. ISO 8601.")
    recorded_by = serializers.DateTimeField(
        required=False, help_text="Count only what the system had recorded by this time, so a past answer is "
                                  "reproduced exactly; alone, it answers as of that same time. ISO 8601.")


class VersionStatesQuerySerializer(serializers.Serializer):
    state = serializers.MultipleChoiceField(
        required=False, choices=VersionState.values,
        help_text="Only versions in these states (repeat the parameter for several).")


class DiffQuerySerializer(serializers.Serializer):
    from_version = serializers.IntegerField(min_value=1, required=False,
                                            help_text="Default: the version in force now.")
    to_version = serializers.IntegerField(min_value=1)


class BracketQuerySerializer(serializers.Serializer):
    symbol = serializers.CharField(required=False, max_length=40, help_text="One contract; all when left out.")


class ContractSummarySerializer(serializers.Serializer):
    symbol = serializers.CharField()
    version = serializers.IntegerField()
    content_hash = serializers.CharField()
    effective_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField()


class TierSerializer(serializers.Serializer):
    tier = serializers.IntegerField()
    floor = serializers.CharField(help_text=DECIMAL)
    cap = serializers.CharField(help_text=DECIMAL)
    max_leverage = serializers.CharField(help_text="effective: published leverage / multiplier")
    initial_margin_rate = serializers.CharField(help_text="effective: multiplier / published leverage, at most 1")
    maintenance_margin_rate = serializers.CharField(help_text="effective: published rate x multiplier")
    maintenance_amount = serializers.CharField(help_text="derived so maintenance margin is continuous across tiers")


class ContractParametersSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    version = serializers.IntegerField()
    content_hash = serializers.CharField()
    effective_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField()
    exchange_version = serializers.IntegerField(allow_null=True)
    contract_size = serializers.CharField(help_text=DECIMAL)
    tick_size = serializers.CharField(help_text=DECIMAL)
    margin_call_threshold = serializers.CharField(help_text=DECIMAL)
    volatility_band = serializers.IntegerField(
        allow_null=True, help_text="null in answers about the past: realized volatility is not kept over time, "
                                   "so the multiplier is then global x group only")
    multiplier = serializers.CharField(help_text="band x global x group")
    tiers = TierSerializer(many=True)


class ContractGroupSerializer(serializers.Serializer):
    name = serializers.CharField()
    multiplier = serializers.CharField(help_text=DECIMAL)
    members = serializers.ListField(child=serializers.CharField())


class ExchangeParametersSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    content_hash = serializers.CharField()
    effective_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField()
    global_multiplier = serializers.CharField(help_text=DECIMAL)
    default_margin_call_threshold = serializers.CharField(help_text=DECIMAL)
    groups = ContractGroupSerializer(many=True)


class VersionSummarySerializer(serializers.Serializer):
    subject = serializers.CharField(source="subject.key")
    number = serializers.IntegerField()
    state = serializers.CharField()
    content_hash = serializers.CharField()
    author = serializers.CharField(source="author.username")
    rationale = serializers.CharField()
    emergency = serializers.BooleanField()
    rollback_of = serializers.IntegerField(source="rollback_of.number", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    approved_at = serializers.DateTimeField(allow_null=True)
    effective_at = serializers.DateTimeField(allow_null=True)
    activated_at = serializers.DateTimeField(allow_null=True)
    superseded_at = serializers.DateTimeField(allow_null=True)
    ratified_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()


class ApprovalSerializer(serializers.Serializer):
    approver = serializers.CharField(source="approver.username")
    kind = serializers.CharField()
    content_hash = serializers.CharField()
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)


class VersionDetailSerializer(VersionSummarySerializer):
    yaml = serializers.CharField(source="yaml_text", help_text="the rule file as proposed, comments included")
    content = serializers.JSONField(help_text="the parsed content, decimals as strings; null if it does not parse")
    approvals = ApprovalSerializer(many=True)


class FieldChangeSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="e.g. tiers[2].maintenance_margin_rate")
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)
    relative_change = serializers.CharField(allow_null=True, help_text="(new - old) / old, " + DECIMAL)
    parameter = serializers.CharField(allow_null=True, help_text="the guardrail the field falls under; \"structure\": "
                                      "none can compare it (contract size, tick size, ...)")
    direction = serializers.ChoiceField(choices=["tightening", "loosening", "neutral"])
    beyond_step = serializers.BooleanField()


class DiffSerializer(serializers.Serializer):
    subject = serializers.CharField()
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    changes = FieldChangeSerializer(many=True)


class ScheduledSerializer(serializers.Serializer):
    subject = serializers.CharField()
    kind = serializers.ChoiceField(choices=Subject.Kind.values)
    version = serializers.IntegerField()
    state = serializers.ChoiceField(choices=["approved", "scheduled"])
    content_hash = serializers.CharField()
    approved_at = serializers.DateTimeField()
    effective_at = serializers.DateTimeField(allow_null=True, help_text="null: approved, not yet scheduled")
    emergency = serializers.BooleanField()


class BracketSerializer(serializers.Serializer):
    bracket = serializers.IntegerField()
    initialLeverage = serializers.IntegerField()  # noqa: N815 (the exchange's field names)
    notionalCap = serializers.FloatField()  # noqa: N815
    notionalFloor = serializers.FloatField()  # noqa: N815
    maintMarginRatio = serializers.FloatField()  # noqa: N815
    cum = serializers.FloatField()


class LeverageBracketSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    notionalCoef = serializers.FloatField()  # noqa: N815
    brackets = BracketSerializer(many=True)
