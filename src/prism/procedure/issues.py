"""Problems found in a procedure file, each at ``file:line:column``.

:class:`FileIssue` (one problem) and :class:`ProcedureFileError` (the error that lists
them) are defined in :mod:`prism.errors`; the procedure readers import them from here.
"""

from __future__ import annotations

from prism.errors import FileIssue, ProcedureFileError

__all__ = ["FileIssue", "ProcedureFileError"]
