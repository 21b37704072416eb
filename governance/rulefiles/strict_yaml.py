"""A strict YAML reader for rule files.

PyYAML's own loaders resolve plain scalars by YAML 1.1 rules (`no` is False,
`010` is 8, `1:30` is 90, `2024-01-01` a date) and build floats. Rule files
hold money and rates, so this reader walks the parser's events itself and
decides every scalar: numbers become exact Decimals, YAML 1.1 look-alikes,
tags, anchors, aliases, duplicate keys and extra documents are refused with
their line and column. It never raises on bad input: it returns errors.
"""
from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterator

import yaml

from governance.rulefiles.errors import DocPath, RuleError

try:
    _Loader = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 32

_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_EXPONENT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]")
_RADIX = re.compile(r"[-+]?0[xXoObB][0-9a-fA-F_]*")
_SEPARATED = re.compile(r"[-+]?[0-9][0-9_]*_[0-9_]*(?:\.[0-9_]*)?")
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?")
_SPECIAL_FLOAT = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_YAML11_BOOL = frozenset("y Y yes Yes YES n N no No NO on On ON off Off OFF".split())
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_NULL = frozenset({"", "~", "null", "Null", "NULL"})


@dataclass
class ParsedYaml:
    """The document as plain Python data, with the location of every value and key."""

    data: Any = None
    errors: list[RuleError] = field(default_factory=list)
    value_marks: dict[DocPath, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[DocPath, tuple[int, int]] = field(default_factory=dict)
    refused_paths: set[DocPath] = field(default_factory=set)

    def location(self, path: DocPath) -> tuple[int, int]:
        """Line and column of the value at `path`, or of its nearest located parent."""
        while path not in self.value_marks and path:
            path = path[:-1]
        return self.value_marks.get(path, (1, 1))


class _Refused(Exception):
    """Stops the walk at the first structural problem (the parser cannot go on reliably)."""


def _mark(event: Any) -> tuple[int, int]:
    return event.start_mark.line + 1, event.start_mark.column + 1


_NUMERIC_START = frozenset("0123456789+-.")


@lru_cache(maxsize=8192)  # values repeat across rule files; Decimals are immutable, so sharing is safe
def scalar_resolve(text: str) -> tuple[Any, str | None]:
    """Resolve a plain (unquoted) scalar: returns (value, None) or (None, reason it is refused)."""
    if text and text[0] not in _NUMERIC_START and text not in _YAML11_BOOL and text not in _TRUE \
            and text not in _FALSE and text not in _NULL:
        return text, None
    if text in _NULL:
        return None, None
    if text in _TRUE:
        return True, None
    if text in _FALSE:
        return False, None
    if text in _YAML11_BOOL:
        return None, (f"ambiguous value '{text}': YAML 1.1 reads it as a boolean; "
                      "write true or false, or quote it for a string")
    if _SPECIAL_FLOAT.fullmatch(text):
        return None, f"'{text}' is not allowed: infinity and NaN are not numbers a rule can hold"
    if _EXPONENT.fullmatch(text):
        return None, f"'{text}' is not allowed: write numbers in plain decimal notation, without an exponent"
    if _RADIX.fullmatch(text):
        return None, f"'{text}' is not allowed: write numbers in plain decimal notation"
    if _SEXAGESIMAL.fullmatch(text):
        return None, (f"ambiguous value '{text}': YAML 1.1 reads it as a base-60 number; "
                      "quote it for a string")
    if _SEPARATED.fullmatch(text):
        return None, f"'{text}' is not allowed: write numbers without '_' separators"
    if _DATE.fullmatch(text):
        return None, (f"ambiguous value '{text}': YAML 1.1 reads it as a date; "
                      "quote it for a string")
    if _NUMBER.fullmatch(text):
        if _LEADING_ZERO.match(text) and not text.lstrip("+-").startswith("0."):
            return None, (f"ambiguous number '{text}': YAML 1.1 reads a leading zero as octal; "
                          "remove the leading zero")
        return Decimal(text), None
    return text, None


class _Walker:
    def __init__(self, source: str, parsed: ParsedYaml):
        self.source = source
        self.parsed = parsed

    def refuse(self, event: Any, path: DocPath, message: str) -> None:
        line, column = _mark(event)
        self.parsed.errors.append(RuleError(self.source, line, column, path, message))
        raise _Refused

    def note(self, event: Any, path: DocPath, message: str) -> None:
        line, column = _mark(event)
        self.parsed.errors.append(RuleError(self.source, line, column, path, message))

    def check_node_event(self, event: Any, path: DocPath) -> bool:
        """Report aliases, anchors and explicit tags; True when the value must be discarded."""
        refused = False
        if isinstance(event, yaml.AliasEvent):
            self.note(event, path, f"alias '*{event.anchor}' is not allowed in rule files")
            return True
        if getattr(event, "anchor", None) is not None:
            self.note(event, path, f"anchor '&{event.anchor}' is not allowed in rule files")
            refused = True
        tag = getattr(event, "tag", None)
        implicit = getattr(event, "implicit", True)
        implicit = implicit[0] or implicit[1] if isinstance(implicit, tuple) else implicit
        if tag is not None and not implicit:
            self.note(event, path, f"tag '{tag}' is not allowed in rule files")
            refused = True
        return refused

    def node(self, events: Iterator[Any], event: Any, path: DocPath, depth: int) -> Any:
        if depth > MAX_DEPTH:
            self.refuse(event, path, f"nesting deeper than {MAX_DEPTH} levels is not allowed")
        self.parsed.value_marks[path] = _mark(event)
        if self.check_node_event(event, path):
            self.parsed.refused_paths.add(path)
            if isinstance(event, yaml.AliasEvent):
                return None
            value = self.value(events, event, path, depth)
            return None if isinstance(event, yaml.ScalarEvent) else value
        return self.value(events, event, path, depth)

    def value(self, events: Iterator[Any], event: Any, path: DocPath, depth: int) -> Any:
        if isinstance(event, yaml.ScalarEvent):
            if event.style is not None and event.style != "":
                return event.value
            value, reason = scalar_resolve(event.value)
            if reason:
                self.parsed.refused_paths.add(path)
                self.note(event, path, reason)
            return value
        if isinstance(event, yaml.SequenceStartEvent):
            items = []
            for child in events:
                if isinstance(child, yaml.SequenceEndEvent):
                    return items
                items.append(self.node(events, child, path + (len(items),), depth + 1))
        if isinstance(event, yaml.MappingStartEvent):
            mapping: dict[str, Any] = {}
            for key_event in events:
                if isinstance(key_event, yaml.MappingEndEvent):
                    return mapping
                key = self.key(key_event, path)
                value_event = next(events)
                if key in mapping:
                    first_line = self.parsed.key_marks[path + (key,)][0]
                    self.note(key_event, path + (key,),
                              f"duplicate key '{key}' (first defined on line {first_line})")
                    self.node(events, value_event, ("<duplicate>",) + path + (key,), depth + 1)
                    continue
                self.parsed.key_marks[path + (key,)] = _mark(key_event)
                mapping[key] = self.node(events, value_event, path + (key,), depth + 1)
        self.refuse(event, path, "unexpected YAML structure")

    def key(self, event: Any, path: DocPath) -> str:
        if not isinstance(event, yaml.ScalarEvent) or self.check_node_event(event, path):
            self.refuse(event, path, "mapping keys must be plain strings")
        if event.style:
            return event.value
        value, reason = scalar_resolve(event.value)
        if reason or not isinstance(value, str):
            self.refuse(event, path, f"mapping key '{event.value}' must be a string")
        return value


def _events(content: str) -> Iterator[Any]:
    loader = _Loader(content)
    try:
        while (event := loader.get_event()) is not None:
            yield event
            if isinstance(event, yaml.StreamEndEvent):
                return
    finally:
        loader.dispose()


def _offset_location(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def yaml_parse(content: str | bytes, *, source: str, max_bytes: int = MAX_FILE_BYTES) -> ParsedYaml:
    """Parse one rule file strictly. Errors are collected in the result, never raised."""
    parsed = ParsedYaml()
    size = len(content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content)
    if size > max_bytes:
        parsed.errors.append(RuleError(source, 1, 1, (), f"file is {size} bytes; the limit is {max_bytes}"))
        return parsed
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, column = _offset_location(content[: exc.start].decode("utf-8", "replace"), exc.start)
            parsed.errors.append(RuleError(source, line, column, (), "file is not valid UTF-8"))
            return parsed
    content = content.removeprefix("\ufeff")
    walker = _Walker(source, parsed)
    events = _events(content)
    documents = 0
    try:
        for event in events:
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    walker.refuse(event, (), "more than one YAML document in a rule file")
                parsed.data = walker.node(events, next(events), (), 0)
    except _Refused:
        return parsed
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "not valid YAML"
        context = f" {exc.context}" if exc.context else ""
        parsed.errors.append(RuleError(source, line, column, (), f"YAML syntax error: {problem}{context}"))
        return parsed
    except yaml.YAMLError as exc:  # reader errors: unacceptable characters
        position = getattr(exc, "position", 0) or 0
        line, column = _offset_location(content, position)
        reason = getattr(exc, "reason", None) or "unreadable content"
        parsed.errors.append(RuleError(source, line, column, (), f"YAML syntax error: {reason}"))
        return parsed
    if documents == 0:
        parsed.errors.append(RuleError(source, 1, 1, (), "file is empty: expected a mapping"))
    return parsed
