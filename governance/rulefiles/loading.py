"""Loading rule files and rule sets: read strictly, validate by schema, then by meaning.

No database is involved: `validate_rules` and a rules repository's CI use this alone.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Iterable

from governance.rulefiles.documents import ContractRules, ExchangeRules, PolicyRules
from governance.rulefiles.errors import RuleError, RuleFilesInvalid
from governance.rulefiles.schemas import KINDS, schema_errors
from governance.rulefiles.semantics import (
    RuleContext,
    contract_check,
    exchange_check,
    policy_check,
    reporter,
)
from governance.rulefiles.strict_yaml import ParsedYaml, yaml_parse

RULE_SUFFIXES = (".yaml", ".yml")
# Below this many files a process pool costs more than it saves.
PARALLEL_MIN_FILES = 200
_BUILDERS = {"contract/v1": ContractRules, "exchange/v1": ExchangeRules, "policy/v1": PolicyRules}


@dataclass
class RuleFile:
    """One rule file: its text, what it parsed to, its errors and, when valid, its document."""

    source: str
    text: str | None
    parsed: ParsedYaml
    kind: str | None = None
    file_stem: str | None = None
    errors: list[RuleError] = field(default_factory=list)
    document: Any = None

    @property
    def valid(self) -> bool:
        return not self.errors


@dataclass
class RuleSet:
    files: list[RuleFile]
    contracts: dict[str, ContractRules] = field(default_factory=dict)
    exchange: ExchangeRules | None = None
    policy: PolicyRules | None = None

    @property
    def errors(self) -> list[RuleError]:
        return sorted(e for f in self.files for e in f.errors)

    def raise_if_invalid(self) -> None:
        if self.errors:
            raise RuleFilesInvalid(self.errors)


def rulefile_parse(content: str | bytes, *, source: str, file_stem: str | None = None) -> RuleFile:
    """Read one rule file and check it against the schema its `schema:` key names."""
    parsed = yaml_parse(content, source=source)
    text = content if isinstance(content, str) else None
    rule_file = RuleFile(source=source, text=text, parsed=parsed, file_stem=file_stem,
                         errors=list(parsed.errors))
    if parsed.errors and parsed.data is None:
        return rule_file
    data = parsed.data
    if not isinstance(data, dict):
        rule_file.errors.append(RuleError(source, 1, 1, (), "expected a mapping at the top of the file"))
        return rule_file
    kind = data.get("schema")
    if kind not in KINDS:
        line, column = parsed.location(("schema",))
        got = f"'{kind}'" if isinstance(kind, str) else "nothing" if kind is None else str(kind)
        rule_file.errors.append(RuleError(
            source, line, column, ("schema",),
            f"unknown rule-file schema {got}; expected one of {', '.join(KINDS)}"))
        return rule_file
    rule_file.kind = kind
    rule_file.errors.extend(schema_errors(parsed, kind=kind, source=source))
    return rule_file


def _semantics_check(rule_file: RuleFile, context: RuleContext) -> None:
    report = reporter(rule_file.parsed, rule_file.source, rule_file.errors)
    data = rule_file.parsed.data
    if rule_file.kind == "contract/v1":
        contract_check(data, report, context, file_stem=rule_file.file_stem)
    elif rule_file.kind == "exchange/v1":
        exchange_check(data, report, context)
    elif rule_file.kind == "policy/v1":
        policy_check(data, report, context)


def _single_document(files: list[RuleFile], kind: str) -> Any:
    """The document of the one valid file of a kind, or None; a second file of the kind is an error."""
    of_kind = [f for f in files if f.kind == kind]
    for extra in of_kind[1:]:
        extra.errors.append(RuleError(extra.source, 1, 1, ("schema",),
                                      f"a rule set has one {kind} file; {of_kind[0].source} is another"))
    first = of_kind[0] if of_kind else None
    if first is not None and not first.errors:
        return _BUILDERS[kind].from_data(first.parsed.data)
    return None


def ruleset_validate(files: list[RuleFile], *, context: RuleContext | None = None) -> RuleSet:
    """Cross-file and semantic checks over parsed files; builds the documents of valid files.

    `context` supplies the exchange-wide and policy documents when the set does not
    contain them (e.g. a single proposed contract checked against the active ones).
    """
    context = context or RuleContext()
    policy_files = [f for f in files if f.kind == "policy/v1"]
    for f in policy_files:
        _semantics_check(f, context)
    policy = _single_document(files, "policy/v1") or context.policy

    contract_files = [f for f in files if f.kind == "contract/v1"]
    symbols: dict[str, RuleFile] = {}
    for f in contract_files:
        symbol = f.parsed.data.get("symbol")
        if not isinstance(symbol, str):
            continue
        if symbol in symbols:
            line, column = f.parsed.location(("symbol",))
            f.errors.append(RuleError(f.source, line, column, ("symbol",),
                                      f"symbol '{symbol}' is also defined in {symbols[symbol].source}"))
        symbols.setdefault(symbol, f)
    known = frozenset(symbols) if contract_files else context.symbols

    # contract files of the set are checked against the exchange file below; without them, the
    # exchange file is checked against the contracts the context names (the store's active ones)
    exchange_context = RuleContext(policy=policy, symbols=known, contracts={} if contract_files else context.contracts)
    for f in files:
        if f.kind == "exchange/v1":
            _semantics_check(f, exchange_context)
    exchange = _single_document(files, "exchange/v1") or context.exchange

    contract_context = RuleContext(exchange=exchange, policy=policy, symbols=known)
    for f in contract_files:
        _semantics_check(f, contract_context)

    ruleset = RuleSet(files=files, exchange=exchange, policy=policy)
    for f in files:
        if f.kind and not f.errors:
            f.document = f.document or _BUILDERS[f.kind].from_data(f.parsed.data)
            if f.kind == "contract/v1":
                ruleset.contracts[f.document.symbol] = f.document
    return ruleset


def rule_paths_collect(paths: Iterable[Path]) -> list[Path]:
    """Expand directories into the rule files below them, sorted; files are kept as given, and
    a file named twice (itself, and in its folder) once. What is named like a rule file but
    cannot be read (a broken link, a pipe) is kept: reading it says why, rather than skipping it."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and not p.is_dir()))
        else:
            found.append(path)
    seen: set[Path] = set()
    unique = []
    for path in found:
        try:
            key = path.resolve()
        except (OSError, RuntimeError):  # a symlink loop: reading it says so
            key = path.absolute()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def source_name(path: Path) -> str:
    """The path as the user knows it: relative to the working directory where possible."""
    try:  # not resolve(): a link is named as the user named it, and a link loop has no target
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def rulefile_read(path: Path) -> RuleFile:
    source = source_name(path)
    if path.exists() and not path.is_file():  # a pipe or a device: reading it could block forever
        return RuleFile(source=source, text=None, parsed=ParsedYaml(),
                        errors=[RuleError(source, 1, 1, (), "cannot read file: not a regular file")])
    try:
        content = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return RuleFile(source=source, text=None, parsed=ParsedYaml(),
                        errors=[RuleError(source, 1, 1, (), f"cannot read file: {reason}")])
    rule_file = rulefile_parse(content, source=source, file_stem=path.stem)
    try:
        rule_file.text = content.decode("utf-8")
    except UnicodeDecodeError:
        pass  # reported by the parser
    return rule_file


def rulefiles_read(paths: list[Path]) -> list[RuleFile]:
    """Read, parse and schema-check files; large sets are spread over the CPU cores.

    Each file's checks are independent until the cross-file pass, and jsonschema's
    per-subschema cost dominates, so this is where more cores pay off.
    """
    workers = min(os.cpu_count() or 1, 8)
    if len(paths) < PARALLEL_MIN_FILES or workers < 2:
        return [rulefile_read(p) for p in paths]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        return list(pool.map(rulefile_read, paths, chunksize=max(1, len(paths) // (workers * 4))))


def ruleset_load(paths: Iterable[Path], *, context: RuleContext | None = None) -> RuleSet:
    """Load and validate the rule files at `paths` (files or directories) as one rule set."""
    return ruleset_validate(rulefiles_read(rule_paths_collect(paths)), context=context)
