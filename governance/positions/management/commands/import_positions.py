"""`manage.py import_positions FILE [--market]`: positions (or market data) from CSV or JSON lines.

All rows or none: the file is parsed whole, then handed to `positions_upsert` (or
`market_data_upsert`) in one call. Decimals stay the strings they are in the file, never
floats. Every error is located: FILE:LINE for the file's own syntax, and the service's
`rows[i].field` mapped back to the line row i came from. Exits 1 on an invalid file,
2 on bad arguments (a missing file, an unsupported type).
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from governance.arguments import path_parse
from governance.errors import DomainError, ValidationFailed
from governance.positions.models import MarketData
from governance.positions.services import MARKET_DATA_FIELDS, POSITION_FIELDS, market_data_upsert, positions_upsert

MARKET_REQUIRED = ("symbol", "mark_price")
CSV_SUFFIXES, JSONL_SUFFIXES = (".csv",), (".jsonl", ".ndjson")
_ROW_PATH = re.compile(r"^rows\[(\d+)\](?:\.(.+))?$")


class FileInvalid(Exception):
    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


def _text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:  # permission denied, say
        raise FileInvalid([f"{path}: cannot read it: {exc.strerror or exc}"]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise FileInvalid([f"{path}:{line}: not UTF-8 text ({exc.reason})"]) from None


def _columns_check(path: Path, line: int, names: list[str], allowed: tuple[str, ...],
                   required: tuple[str, ...]) -> list[str]:
    errors = []
    missing = [c for c in required if c not in names]
    if missing:
        errors.append(f"{path}:{line}: missing column(s): {', '.join(missing)}")
    unknown = [c for c in names if c not in allowed]
    if unknown:
        errors.append(f"{path}:{line}: unknown column(s): {', '.join(unknown)} (expected {', '.join(allowed)})")
    duplicated = sorted({c for c in names if names.count(c) > 1})
    if duplicated:
        errors.append(f"{path}:{line}: column(s) given twice: {', '.join(duplicated)}")
    return errors


def csv_rows(path: Path, text: str, *, allowed: tuple[str, ...],
             required: tuple[str, ...]) -> tuple[list[dict[str, str]], list[int]]:
    """Rows as dicts of strings, and the line each starts on. The first row is the header."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    errors: list[str] = []
    header: list[str] | None = None
    next_line = 1
    try:
        for record in reader:
            line, next_line = next_line, reader.line_num + 1
            if not record or all(not cell.strip() for cell in record):
                continue  # a blank line
            if header is None:
                header = [cell.strip() for cell in record]
                errors.extend(_columns_check(path, line, header, allowed, required))
                if errors:
                    raise FileInvalid(errors)
                continue
            if len(record) != len(header):
                errors.append(f"{path}:{line}: expected {len(header)} fields ({', '.join(header)}), "
                              f"got {len(record)}")
                continue
            rows.append({name: cell.strip() for name, cell in zip(header, record)})
            lines.append(line)
    except csv.Error as exc:
        errors.append(f"{path}:{reader.line_num}: bad CSV: {exc}")
    if header is None and not errors:
        errors.append(f"{path}:1: empty file: expected a header row ({', '.join(allowed)})")
    if errors:
        raise FileInvalid(errors)
    return rows, lines


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _json_number(literal: str) -> str:
    """A JSON number with a fraction or exponent, as exact text in plain notation (1E2 is
    "100"): what the services read. Beyond any column's range it stays as written, to be
    refused there, rather than spelt out in a million digits."""
    value = Decimal(literal)
    return format(value, "f") if -60 <= value.adjusted() <= 60 else literal


def _object_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: with a key twice, which value was meant?"""
    value = dict(pairs)
    if len(value) < len(pairs):
        twice = sorted(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)  # linear: a line may be long
        raise ValueError(f"field given twice: {', '.join(twice)}")
    return value


def jsonl_rows(path: Path, text: str, *, allowed: tuple[str, ...]) -> tuple[list[dict[str, Any]], list[int]]:
    """One JSON object per line (blank lines skipped); numbers with a fraction or exponent are
    kept as exact text, so no decimal goes through a float."""
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    errors: list[str] = []
    # split on newlines only: str.splitlines() also splits on characters JSON allows in a string
    # (U+2028, \x0c, ...), and the line numbers would no longer be the file's
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            value = json.loads(line, parse_float=_json_number, parse_constant=_no_constant,
                               object_pairs_hook=_object_once)
        except json.JSONDecodeError as exc:
            errors.append(f"{path}:{number}: bad JSON: {exc.msg} (column {exc.colno})")
            continue
        except ValueError as exc:
            errors.append(f"{path}:{number}: bad JSON: {exc}")
            continue
        except RecursionError:
            errors.append(f"{path}:{number}: bad JSON: nested too deeply")
            continue
        if not isinstance(value, dict):
            errors.append(f"{path}:{number}: expected a JSON object, got {type(value).__name__}")
            continue
        unknown = [k for k in value if k not in allowed]
        if unknown:
            errors.append(f"{path}:{number}: unknown field(s): {', '.join(unknown)} (expected {', '.join(allowed)})")
            continue
        rows.append(value)
        lines.append(number)
    if errors:
        raise FileInvalid(errors)
    return rows, lines


def service_errors(path: Path, details: list[dict], lines: list[int]) -> list[str]:
    """The service's located errors, rows[i].field -> FILE:LINE: field: message."""
    out = []
    for detail in details or []:
        where, message = str(detail.get("path", "")), detail.get("message", "")
        match = _ROW_PATH.match(where)
        if match and int(match.group(1)) < len(lines):
            field = f"{match.group(2)}: " if match.group(2) else ""
            out.append(f"{path}:{lines[int(match.group(1))]}: {field}{message}")
        elif where == "rows":
            out.append(f"{path}: {message}")
        else:
            out.append(f"{path}: {where}: {message}")
    return out


class Command(BaseCommand):
    help = ("Import positions (account,symbol,side,quantity,entry_price,isolated_margin) or, with --market, market "
            "data (symbol,mark_price,realized_volatility) from a CSV file with a header row or a JSON lines file "
            "(.jsonl), all rows or none. Exits 1 when the file is invalid, 2 on bad arguments.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=path_parse, help="a .csv or .jsonl file")
        parser.add_argument("--market", action="store_true", help="the file holds market data, not positions")

    def handle(self, *args, file: Path, market: bool, **options) -> None:
        if not file.exists():
            raise CommandError(f"no such file: {file}", returncode=2)
        if not file.is_file():
            raise CommandError(f"not a file: {file}", returncode=2)
        suffix = file.suffix.lower()
        if suffix not in CSV_SUFFIXES + JSONL_SUFFIXES:
            raise CommandError(f"unsupported file type '{file.suffix}': expected .csv or .jsonl", returncode=2)
        allowed, required = (MARKET_DATA_FIELDS, MARKET_REQUIRED) if market else (POSITION_FIELDS, POSITION_FIELDS)
        try:
            text = _text(file)
            if suffix in CSV_SUFFIXES:
                rows, lines = csv_rows(file, text, allowed=allowed, required=required)
            else:
                rows, lines = jsonl_rows(file, text, allowed=allowed)
            if market:
                existing = set(MarketData.objects.filter(symbol__in=[r.get("symbol") for r in rows
                                                                     if isinstance(r.get("symbol"), str)])
                               .values_list("symbol", flat=True))
                market_data_upsert(rows=rows)
                created = len({r["symbol"] for r in rows} - existing)
                updated = len(rows) - created
            else:
                result = positions_upsert(rows=rows)
                created, updated = result.created, result.updated
        except FileInvalid as exc:
            self._fail(file, exc.errors)
        except ValidationFailed as exc:
            self._fail(file, service_errors(file, exc.details, lines))
        except DomainError as exc:
            raise CommandError(exc.message, returncode=1)
        self.stdout.write(f"import_positions: {len(rows)} rows ({created} created, {updated} updated)")

    def _fail(self, file: Path, errors: list[str]) -> None:
        for error in errors:
            self.stdout.write(error)
        self.stdout.write(f"import_positions: {len(errors)} error(s) in {file}; nothing imported")
        raise SystemExit(1)
