"""`manage.py import_rules [PATH ...]`: rule files whose content is not in the store become drafts."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from governance.arguments import path_parse
from governance.errors import DomainError
from governance.parameters.rulesync import NEW_DRAFT, SKIPPED, UNCHANGED, rules_import, rules_import_plan
from governance.rulefiles import RuleFilesInvalid


class Command(BaseCommand):
    help = ("Turn every rule file whose content is neither the active version nor a pending proposal into a "
            "new draft. Dry run by default; --commit --author USER writes, all files or none. "
            "Exits 1 when a file does not validate, 2 on bad arguments.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="*", type=path_parse, help="rule files or directories (default: RULES_DIR)")
        parser.add_argument("--commit", action="store_true", help="create the drafts (default: only show them)")
        parser.add_argument("--author", help="username of the analyst the drafts are written by (with --commit)")
        parser.add_argument("--rationale", default="", help="rationale of every draft (default: 'Imported from <file>.')")

    def handle(self, *args, paths: list[Path], commit: bool, author: str | None, rationale: str, **options) -> None:
        paths = paths or [Path(settings.RULES_DIR)]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"no such file or directory: {', '.join(missing)}", returncode=2)
        actor = None
        if commit:
            if not author:
                raise CommandError("--commit needs --author USERNAME: drafts have an author", returncode=2)
            actor = get_user_model().objects.filter(username=author).first()
            if actor is None:
                raise CommandError(f"no user '{author}'", returncode=2)
        try:
            items = (rules_import(actor=actor, paths=paths, rationale=rationale) if commit
                     else rules_import_plan(paths=paths))
        except RuleFilesInvalid as exc:
            for error in exc.errors:
                self.stdout.write(str(error))
            files = len({e.source for e in exc.errors})
            self.stdout.write(f"import_rules: {len(exc.errors)} error(s) in {files} file(s); nothing imported")
            raise SystemExit(1)
        except DomainError as exc:
            raise CommandError(exc.message, returncode=2)
        if not items:
            raise CommandError(f"no rule files (*.yaml, *.yml) found in {', '.join(map(str, paths))}", returncode=2)
        for item in items:
            self.stdout.write(str(item))
        count = {o: sum(1 for i in items if i.outcome == o) for o in (NEW_DRAFT, UNCHANGED, SKIPPED)}
        summary = f"{count[NEW_DRAFT]} new draft(s), {count[UNCHANGED]} unchanged, {count[SKIPPED]} skipped"
        tail = "" if commit else "; dry run, nothing written (--commit --author USER to write)"
        self.stdout.write(f"import_rules: {summary}{tail}")
