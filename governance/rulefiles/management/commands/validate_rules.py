"""`manage.py validate_rules [PATH ...]`: validate rule files without touching the database."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from governance.arguments import path_parse
from governance.rulefiles import ruleset_load


class Command(BaseCommand):
    help = ("Validate rule files (default: all of the rules directory). Prints every error as "
            "file:line:column: path: message and a one-line summary; exits 1 on any error, 0 when clean.")
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="*", type=path_parse,
                            help="rule files or directories (default: the RULES_DIR setting, rules/)")

    def handle(self, *args, paths: list[Path], **options) -> None:
        paths = paths or [Path(settings.RULES_DIR)]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"no such file or directory: {', '.join(missing)}", returncode=2)
        ruleset = ruleset_load(paths)
        errors = ruleset.errors
        for error in errors:
            self.stdout.write(str(error))
        files = len(ruleset.files)
        if not files:
            raise CommandError(f"no rule files (*.yaml, *.yml) found in {', '.join(map(str, paths))}",
                               returncode=2)
        if errors:
            bad = len({e.source for e in errors})
            self.stdout.write(f"validate_rules: {_count(len(errors), 'error')} in {bad} of {_count(files, 'file')}")
            raise SystemExit(1)
        self.stdout.write(f"validate_rules: {_count(files, 'file')} valid ({_count(len(ruleset.contracts), 'contract')})")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
