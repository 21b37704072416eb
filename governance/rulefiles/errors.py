"""Located errors of rule files: file, line, column and the path inside the document."""
from __future__ import annotations

from dataclasses import dataclass

PathElement = str | int
DocPath = tuple[PathElement, ...]


def path_format(path: DocPath) -> str:
    """Render a document path as `tiers[2].maintenance_margin_rate`."""
    out = ""
    for element in path:
        if isinstance(element, int):
            out += f"[{element}]"
        else:
            out += f".{element}" if out else element
    return out


@dataclass(frozen=True, slots=True, order=True)
class RuleError:
    """One problem in one rule file. Lines and columns are 1-based."""

    source: str
    line: int
    column: int
    path: DocPath
    message: str

    @property
    def path_text(self) -> str:
        return path_format(self.path)

    def __str__(self) -> str:
        where = path_format(self.path)
        prefix = f"{self.source}:{self.line}:{self.column}: "
        return f"{prefix}{where}: {self.message}" if where else f"{prefix}{self.message}"


class RuleFilesInvalid(Exception):
    """Raised when rule files do not validate; carries every error found."""

    code = "rules_invalid"
    http_status = 400

    def __init__(self, errors: list[RuleError]):
        self.errors = sorted(errors)
        super().__init__("\n".join(str(e) for e in self.errors))
