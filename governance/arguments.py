"""Argument types shared by the management commands."""
from __future__ import annotations

import argparse
from pathlib import Path


def path_parse(value: str) -> Path:
    """A path argument. An empty one is refused: Path("") is the current directory, so an
    unset shell variable (`--dir "$RULES"`) would otherwise read or write wherever the
    command runs."""
    if not value.strip():
        raise argparse.ArgumentTypeError("an empty path (is a variable unset?)")
    return Path(value)
