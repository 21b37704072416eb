"""Rule files and the parameter store in step.

`rules_import` turns every rule file whose content is not already in the store (as the
active version or a pending proposal) into a new draft; `rules_export` writes the active
versions back as files. Content is compared by hash of its canonical form, so a file
that only differs in comments or key order is "unchanged", and export then import is a
no-op. The policy file is not versioned in the store: it is read from RULES_DIR.
"""
from __future__ import annotations

import errno
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction

from governance.parameters.canonical import canonical_json, content_hash
from governance.parameters.models import ParameterVersion, Subject, VersionState
from governance.parameters.policy import policy_current
from governance.parameters.selectors import exchange_active_document
from governance.parameters.services import version_draft_create
from governance.rulefiles import RuleContext, RuleFilesInvalid, ruleset_load

S = VersionState
PENDING = (S.DRAFT, S.SUBMITTED, S.APPROVED, S.SCHEDULED)

NEW_DRAFT, UNCHANGED, SKIPPED = "new draft", "unchanged", "skipped"
WRITTEN, IN_STEP, DIFFERS, MISSING = "written", "in step", "differs", "missing"


@dataclass(frozen=True)
class ImportItem:
    source: str
    subject_key: str
    kind: str
    outcome: str
    detail: str
    yaml_text: str = ""
    content_hash: str = ""
    version: ParameterVersion | None = None

    def __str__(self) -> str:
        return f"{self.source}: {self.outcome} ({self.detail})"


def _store_context() -> RuleContext:
    symbols = Subject.objects.filter(kind=Subject.Kind.CONTRACT).values_list("key", flat=True)
    return RuleContext(exchange=exchange_active_document(), policy=policy_current(), symbols=frozenset(symbols))


def _matching_version(subject: Subject | None, digest: str) -> ParameterVersion | None:
    if subject is None:
        return None
    return (subject.versions.filter(content_hash=digest, state__in=(S.ACTIVE, *PENDING))
            .order_by("-number").first())


def rules_import_plan(*, paths: list[Path]) -> list[ImportItem]:
    """What an import of these files would do. Raises RuleFilesInvalid, with every error,
    when any file does not validate, in the context of the store (active exchange-wide
    adjustments and known contracts) where the files do not bring their own."""
    ruleset = ruleset_load(paths, context=_store_context())
    ruleset.raise_if_invalid()
    subjects = {s.key: s for s in Subject.objects.all()}
    items = []
    for rule_file in ruleset.files:
        if rule_file.kind == "policy/v1":
            items.append(ImportItem(rule_file.source, "", "policy", SKIPPED,
                                    "the policy is read from the rules directory, not versioned in the store"))
            continue
        if rule_file.kind == "exchange/v1":
            key, kind = Subject.EXCHANGE_KEY, Subject.Kind.EXCHANGE
        else:
            key, kind = rule_file.parsed.data["symbol"], Subject.Kind.CONTRACT
        digest = content_hash(canonical_json(rule_file.parsed.data))
        subject = subjects.get(key)
        match = _matching_version(subject, digest)
        if match is not None:
            items.append(ImportItem(rule_file.source, key, kind, UNCHANGED, f"same content as v{match.number}, "
                                    f"{match.state}", rule_file.text or "", digest, match))
            continue
        latest = subject.versions.order_by("-number").first() if subject else None
        detail = f"differs from v{latest.number}, {latest.state}" if latest else "no version yet"
        items.append(ImportItem(rule_file.source, key, kind, NEW_DRAFT, detail, rule_file.text or "", digest))
    # the exchange-wide adjustments first: contracts are validated against them
    return sorted(items, key=lambda i: (i.kind != Subject.Kind.EXCHANGE, i.source))


@transaction.atomic
def rules_import(*, actor: Any, paths: list[Path], rationale: str = "") -> list[ImportItem]:
    """Create the drafts `rules_import_plan` names, all or none."""
    done = []
    for item in rules_import_plan(paths=paths):
        if item.outcome != NEW_DRAFT:
            done.append(item)
            continue
        version = version_draft_create(actor=actor, yaml_text=item.yaml_text, subject_key=item.subject_key,
                                       rationale=rationale or f"Imported from {item.source}.")
        done.append(ImportItem(item.source, item.subject_key, item.kind, NEW_DRAFT, f"created v{version.number}",
                               item.yaml_text, item.content_hash, version))
    return done


@dataclass(frozen=True)
class ExportItem:
    path: Path
    subject_key: str
    version_number: int
    outcome: str

    def __str__(self) -> str:
        from governance.rulefiles.loading import source_name

        return f"{source_name(self.path)}: {self.outcome} (active v{self.version_number})"


def export_path(directory: Path, subject: Subject) -> Path:
    if subject.kind == Subject.Kind.EXCHANGE:
        return directory / "exchange.yaml"
    return directory / "contracts" / f"{subject.key}.yaml"


def _file_hash(path: Path) -> str | None:
    from governance.rulefiles import rulefile_read

    rule_file = rulefile_read(path)
    if rule_file.parsed.data is None or rule_file.parsed.errors:
        return None
    return content_hash(canonical_json(rule_file.parsed.data))


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rules_export(*, directory: Path, check: bool = False) -> list[ExportItem]:
    """Write each active version's exact YAML text to its file under `directory`.

    With `check`, write nothing and report which files are not in step: a file is in step
    when its content hash equals the active version's (comments may differ).
    """
    items, texts = [], {}
    actives = ParameterVersion.objects.filter(state=S.ACTIVE).select_related("subject").order_by("subject__key")
    # every target read and checked first: a folder or a pipe where a file goes, or a file that
    # cannot be read, stops the export before it has written anything
    for version in actives:
        path = export_path(directory, version.subject)
        _export_target_check(path, directory)
        if path.exists():
            same = _file_hash(path) == version.content_hash
            if check:
                outcome = IN_STEP if same else DIFFERS
            elif path.read_bytes() == version.yaml_text.encode("utf-8"):  # any bytes: not UTF-8 is not in step
                outcome = IN_STEP
            else:
                outcome = WRITTEN
        else:
            outcome = MISSING if check else WRITTEN
        items.append(ExportItem(path, version.subject.key, version.number, outcome))
        texts[path] = version.yaml_text
    for item in items:
        if item.outcome == WRITTEN:
            _write_atomic(item.path, texts[item.path])
    return items


def _export_target_check(path: Path, directory: Path) -> None:
    for folder in reversed(path.parents):
        if (folder == directory or directory in folder.parents) and folder.exists() and not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder))
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if path.exists() and not path.is_file():
        raise OSError(errno.EINVAL, "not a regular file", str(path))


__all__ = ["ImportItem", "ExportItem", "RuleFilesInvalid", "rules_import_plan", "rules_import", "rules_export",
           "NEW_DRAFT", "UNCHANGED", "SKIPPED", "WRITTEN", "IN_STEP", "DIFFERS", "MISSING"]
