"""JSON Schema validation of parsed rule files, with errors located in the YAML source."""
from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from governance.rulefiles.errors import RuleError
from governance.rulefiles.strict_yaml import ParsedYaml

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
KINDS = {"contract/v1": "contract-v1", "exchange/v1": "exchange-v1", "policy/v1": "policy-v1"}


def _is_integer(checker: Any, instance: Any) -> bool:
    if isinstance(instance, bool):
        return False
    if isinstance(instance, Decimal):
        return instance.is_finite() and instance == instance.to_integral_value()
    return isinstance(instance, int)


_Validator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@cache
def schema_load(kind: str) -> dict[str, Any]:
    """The JSON Schema document of a rule-file kind such as `contract/v1`."""
    return json.loads((SCHEMAS_DIR / f"{KINDS[kind]}.schema.json").read_text(encoding="utf-8"))


@cache
def validator_get(kind: str) -> Any:
    schema = schema_load(kind)
    Draft202012Validator.check_schema(schema)
    return _Validator(schema)


_TYPE_NAMES = {
    "number": "a number", "integer": "a whole number", "string": "a string",
    "object": "a mapping", "array": "a list", "boolean": "true or false", "null": "empty",
}


def value_describe(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return f"'{value}'" if len(value) <= 60 else f"'{value[:57]}...'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _message(error: ValidationError) -> str:
    v, expected, got = error.validator, error.validator_value, value_describe(error.instance)
    if v == "type":
        names = [expected] if isinstance(expected, str) else expected
        return f"expected {' or '.join(_TYPE_NAMES.get(n, n) for n in names)}, got {got}"
    if v == "minimum":
        return f"must be at least {expected}, got {got}"
    if v == "maximum":
        return f"must be at most {expected}, got {got}"
    if v == "exclusiveMinimum":
        return f"must be greater than {expected}, got {got}"
    if v == "exclusiveMaximum":
        return f"must be less than {expected}, got {got}"
    if v == "const":
        return f"must be '{expected}', got {got}"
    if v == "enum":
        return f"must be one of {', '.join(str(e) for e in expected)}, got {got}"
    if v == "pattern":
        return f"{got} does not match the pattern {expected}"
    if v == "minLength":
        return "must not be empty" if expected == 1 else f"must have at least {expected} characters"
    if v == "maxLength":
        return f"must have at most {expected} characters, got {len(error.instance)}"
    if v == "minItems":
        return f"must have at least {expected} item{'s' if expected != 1 else ''}"
    if v == "maxItems":
        return f"must have at most {expected} items, got {len(error.instance)}"
    return error.message


def schema_errors(parsed: ParsedYaml, *, kind: str, source: str) -> list[RuleError]:
    """Every schema violation of a parsed document, located at the offending value or key."""
    found: list[RuleError] = []
    missing_seen: set[tuple] = set()
    for error in validator_get(kind).iter_errors(parsed.data):
        path = tuple(error.absolute_path)
        if path in parsed.refused_paths:
            continue  # already reported by the reader (e.g. an ambiguous YAML 1.1 value)
        line, column = parsed.location(path)
        if error.validator == "additionalProperties":
            allowed = set(error.schema.get("properties", {}))
            for key in sorted(k for k in error.instance if k not in allowed):
                line, column = parsed.key_marks.get(path + (key,), (line, column))
                found.append(RuleError(source, line, column, path + (key,),
                                       f"unknown key '{key}'{_known_keys_hint(allowed)}"))
        elif error.validator == "required":
            # jsonschema yields one error per missing key; name each key once
            for key in error.validator_value:
                if key not in error.instance and (path, key) not in missing_seen:
                    missing_seen.add((path, key))
                    found.append(RuleError(source, line, column, path, f"missing required key '{key}'"))
                    break
        else:
            found.append(RuleError(source, line, column, path, _message(error)))
    return found


def _known_keys_hint(allowed: set[str]) -> str:
    return f" (expected one of: {', '.join(sorted(allowed))})" if allowed else ""
