"""`manage.py verify_audit [--head SEQUENCE:HASH]`: recompute the audit chain and check it against
what it records; exit 1 when an entry was altered or removed, 2 for a malformed --head."""
from __future__ import annotations

import re

from django.core.management.base import BaseCommand, CommandError

from governance.parameters.audit import audit_head, audit_verify


def _head(text: str) -> tuple[int, str]:
    match = re.fullmatch(r"#?([1-9][0-9]*):([0-9a-f]{64})", text.strip())  # sequences start at 1
    if match is None:
        raise CommandError(f"--head must be SEQUENCE:HASH as printed by an earlier run (e.g. 12:{'0' * 64}), "
                           f"got {text!r}", returncode=2)
    return int(match.group(1)), match.group(2)


class Command(BaseCommand):
    help = ("Recompute the hash chain of the audit log and check it against the versions and approvals it "
            "records. Exits 0 when intact (printing the head to keep), 1 listing every problem.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--head", type=str, default=None,
                            help="SEQUENCE:HASH printed by an earlier run and kept outside the database: it "
                                 "must still be in the chain (an emptied or cut log is found)")

    def handle(self, *args, head: str | None = None, **options) -> None:
        count, problems = audit_verify(head=_head(head) if head is not None else None)
        if not problems:
            last = audit_head()
            kept = f"; head {last[0]}:{last[1]} (keep it, check later with --head)" if last else ""
            self.stdout.write(f"verify_audit: {count} entries, chain intact{kept}")
            return
        for problem in problems:
            self.stdout.write(str(problem))
        self.stdout.write(f"verify_audit: {count} entries, {len(problems)} problem(s): the audit log was tampered with")
        raise SystemExit(1)
