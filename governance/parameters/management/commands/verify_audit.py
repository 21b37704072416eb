"""`manage.py verify_audit`: recompute the audit chain; exit 1 when an entry was altered or removed."""
from __future__ import annotations

from django.core.management.base import BaseCommand

from governance.parameters.audit import audit_verify


class Command(BaseCommand):
    help = "Recompute the hash chain of the audit log. Exits 0 when intact, 1 listing every broken entry."

    def handle(self, *args, **options) -> None:
        count, problems = audit_verify()
        if not problems:
            self.stdout.write(f"verify_audit: {count} entries, chain intact")
            return
        for problem in problems:
            self.stdout.write(str(problem))
        self.stdout.write(f"verify_audit: {count} entries, {len(problems)} problem(s): the audit log was tampered with")
        raise SystemExit(1)
