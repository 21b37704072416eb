"""Response shapes, for the OpenAPI schema (bodies are built by the selectors)."""
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField(allow_null=True)


class ContractSummarySerializer(serializers.Serializer):
    symbol = serializers.CharField()
    version = serializers.IntegerField()
    content_hash = serializers.CharField()
    activated_at = serializers.DateTimeField()


class TierSerializer(serializers.Serializer):
    tier = serializers.IntegerField()
    floor = serializers.CharField(help_text="decimal as a string")
    cap = serializers.CharField()
    max_leverage = serializers.CharField()
    initial_margin_rate = serializers.CharField()
    maintenance_margin_rate = serializers.CharField()
    maintenance_amount = serializers.CharField()


class ContractParametersSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    version = serializers.IntegerField()
    content_hash = serializers.CharField()
    exchange_version = serializers.IntegerField(allow_null=True)
    contract_size = serializers.CharField()
    tick_size = serializers.CharField()
    margin_call_threshold = serializers.CharField()
    volatility_band = serializers.IntegerField()
    multiplier = serializers.CharField(help_text="band x global x group")
    tiers = TierSerializer(many=True)
