"""What the benchmarks share: their output, and a database of their own on the PostgreSQL server."""
from __future__ import annotations

import re
import sys
from urllib.parse import urlsplit, urlunsplit


def say(message: str = "") -> None:
    print(message, flush=True)


def database_ensure(url: str, *, fresh: bool) -> None:
    """Create the database of `url` if missing (or drop and recreate it with `fresh`)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        sys.exit(f"bench: unusual database name {name!r}: refusing to create or drop it")
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            if "bench" not in name:
                sys.exit(f"bench: --fresh drops the database; {name!r} has no 'bench' in its name, refusing")
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            say(f"database {name} created")
