"""`manage.py export_rules`: write the active versions back to the rules directory."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from governance.arguments import path_parse
from governance.parameters.rulesync import DIFFERS, IN_STEP, MISSING, WRITTEN, rules_export


class Command(BaseCommand):
    help = ("Write each active version's exact YAML to <dir>/contracts/<SYMBOL>.yaml or <dir>/exchange.yaml. "
            "--check writes nothing and exits 1 when a file is missing or its content differs.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dir", dest="directory", type=path_parse, default=None, help="target rules directory (default: RULES_DIR)")
        parser.add_argument("--check", action="store_true", help="only compare; exit 1 when out of step")

    def handle(self, *args, directory: Path | None, check: bool, **options) -> None:
        directory = directory or Path(settings.RULES_DIR)
        if directory.exists() and not directory.is_dir():
            raise CommandError(f"not a directory: {directory}", returncode=2)
        try:
            items = rules_export(directory=directory, check=check)
        except OSError as exc:  # a file or folder that cannot be read or written
            raise CommandError(f"cannot export to {exc.filename or directory}: {exc.strerror or exc}",
                               returncode=2) from None
        for item in items:
            self.stdout.write(str(item))
        count = {o: sum(1 for i in items if i.outcome == o) for o in (WRITTEN, IN_STEP, DIFFERS, MISSING)}
        if check:
            out = count[DIFFERS] + count[MISSING]
            self.stdout.write(f"export_rules: {count[IN_STEP]} in step, {count[DIFFERS]} differ, "
                              f"{count[MISSING]} missing")
            if out:
                raise SystemExit(1)
            return
        self.stdout.write(f"export_rules: {count[WRITTEN]} written, {count[IN_STEP]} already in step, to {directory}")
