"""Request bodies: strict serializers, and how the schema says they are strict.

A field a body does not declare is an error listed beside the others, never ignored: a misspelt
`comment` or `effective_at` must not pass silently. The schema says so with
`additionalProperties: false`, so a client generated from it (or schemathesis) knows.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers
from rest_framework.request import Request


class StrictSerializer(serializers.Serializer):
    """A request body: fields it does not declare are errors, listed beside the others."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        unknown = {name: ["unknown field"] for name in data if name not in self.fields} \
            if isinstance(data, Mapping) else {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from None
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


def input_valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """The validated data of a body or of query parameters; a 400 with the fields at fault otherwise."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def body_valid(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    return input_valid(serializer_class, request.data)


class StrictSerializerSchema(OpenApiSerializerExtension):
    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}
