#!/usr/bin/env python
"""Django's command-line utility for the margin-parameter governance system."""
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:  # a setting from the environment: one line, no traceback
        sys.exit(f"manage.py: configuration error: {exc}")
    except KeyboardInterrupt:
        print("manage.py: interrupted; what the command committed before stays (seed_positions writes batch by "
              "batch: the same command again completes its book)", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
