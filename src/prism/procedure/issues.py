"""Problems found in a procedure file, each at ``file:line:column``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prism.errors import ProcedureError

__all__ = ["FileIssue", "ProcedureFileError"]


@dataclass(frozen=True)
class FileIssue:
    """One problem in a procedure file.

    Parameters
    ----------
    file : str
        The file as named by the caller (``"<string>"`` for text).
    line, column : int or None
        1-based position of the offending YAML node, or None when the problem concerns
        the whole file (missing, unreadable, empty).
    message : str
        What is wrong, naming the thing, what was expected and what was found.

    Examples
    --------
    >>> str(FileIssue("tea.yaml", 7, 22, "step 'boil': duration mean must be > 0 seconds"))
    "tea.yaml:7:22: step 'boil': duration mean must be > 0 seconds"
    """

    file: str
    line: int | None
    column: int | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"


class ProcedureFileError(ProcedureError):
    """A procedure file cannot be read; ``issues`` lists every problem found, by line.

    ``str(error)`` is one ``path:line:col: message`` per issue.
    """

    def __init__(self, issues: Iterable[FileIssue]) -> None:
        self.issues: tuple[FileIssue, ...] = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))

    def __reduce__(self) -> tuple[type[ProcedureFileError], tuple[tuple[FileIssue, ...]]]:
        return type(self), (self.issues,)

    @classmethod
    def sorted(cls, issues: Iterable[FileIssue]) -> ProcedureFileError:
        """The error with ``issues`` sorted by line and column (stable for ties)."""
        return cls(sorted(issues, key=lambda issue: (issue.line or 0, issue.column or 0)))
