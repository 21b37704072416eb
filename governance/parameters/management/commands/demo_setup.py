"""`manage.py demo_setup`: demo users for every role, and rules/ bootstrapped as active versions."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from governance.errors import DomainError
from governance.parameters.demo import demo_active_count, demo_rules_bootstrap, demo_users_ensure
from governance.rulefiles import RuleFilesInvalid


class Command(BaseCommand):
    help = ("Create (or reset) the demo users of every role, print their credentials, and bring the rule files "
            "into the store as active versions through the workflow. For demos only: the passwords are public.")

    def handle(self, *args, **options) -> None:
        try:
            with transaction.atomic():  # all or nothing: no demo user reset for rules that do not validate
                credentials = demo_users_ensure()
                activated = demo_rules_bootstrap(rules_dir=Path(settings.RULES_DIR))
        except RuleFilesInvalid as exc:
            raise CommandError(f"the rules directory does not validate:\n{exc}", returncode=1)
        except DomainError as exc:
            raise CommandError(exc.message, returncode=1)
        self.stdout.write(f"demo_setup: {len(activated)} version(s) activated, {demo_active_count()} active in all")
        self.stdout.write("demo users (username / password / roles):")
        for c in credentials:
            self.stdout.write(f"  {c.username:<10} {c.password:<16} {', '.join(c.roles)}")
