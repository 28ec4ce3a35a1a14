"""The procedures the service offers: those of its tasks folder, loaded once each."""

from __future__ import annotations

import tempfile
from pathlib import Path

from prism.procedure.io import load_procedure
from prism.procedure.model import Procedure
from prism.procedure.render import render_procedure
from prism.server.errors import ProcedureNotFoundError

__all__ = ["Procedures"]


class Procedures:
    """The procedures of ``tasks_dir`` (``<id>/procedure.yaml``) and whether
    ``models_dir`` has a model for each; each is loaded (and drawn) at most once.

    Parameters
    ----------
    tasks_dir, models_dir : Path
    """

    def __init__(self, tasks_dir: Path, models_dir: Path) -> None:
        self.tasks_dir, self.models_dir = tasks_dir, models_dir
        self._loaded: dict[str, Procedure] = {}
        self._pictures: dict[str, bytes] = {}

    def ids(self) -> list[str]:
        """The ids of the procedures in the tasks folder, sorted."""
        return sorted(p.parent.name for p in self.tasks_dir.glob("*/procedure.yaml"))

    def get(self, procedure_id: str) -> Procedure:
        """A procedure of the tasks folder.

        Raises
        ------
        ProcedureNotFoundError
            If there is none of that id (also for ids the file system refuses: too long
            for a file name, a NUL byte).
        """
        if procedure_id not in self._loaded:
            path = self.tasks_dir / procedure_id / "procedure.yaml"
            try:
                known = path.is_file()
            except (OSError, ValueError):  # a name the file system refuses (too long, NUL)
                known = False
            if not known:
                raise ProcedureNotFoundError(f"unknown procedure {procedure_id!r}")
            self._loaded[procedure_id] = load_procedure(path)
        return self._loaded[procedure_id]

    def has_model(self, procedure_id: str) -> bool:
        """Whether the models folder has a model for the procedure."""
        return (self.models_dir / procedure_id).is_dir()

    def picture(self, procedure_id: str) -> bytes:
        """The procedure's graph as SVG (raises like :meth:`get`)."""
        if procedure_id not in self._pictures:
            procedure = self.get(procedure_id)
            with tempfile.TemporaryDirectory() as folder:
                path = render_procedure(procedure, Path(folder) / "procedure.svg")
                self._pictures[procedure_id] = path.read_bytes()
        return self._pictures[procedure_id]
