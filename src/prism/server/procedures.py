"""The procedures the service offers: those of its tasks folder, loaded once each (until
:meth:`Procedures.reload`), and where their models are.

A procedure's model is the folder ``<models dir>/<id>/``; its privacy model (audio at
1 kHz, for privacy sessions: :data:`PRIVACY_MODEL`) the sub-folder ``privacy/`` of it,
so it stays with the procedure's own model and never looks like a model of another
procedure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prism.errors import ProcedureFileError
from prism.procedure.io import load_procedure
from prism.procedure.model import Procedure
from prism.procedure.render import render_procedure
from prism.server.errors import ProcedureNotFoundError, ProcedureUnusableError, unknown

__all__ = ["PRIVACY_MODEL", "PROCEDURE_ID", "Procedures", "Reloaded", "model_folder"]

log = logging.getLogger(__name__)

PROCEDURE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
"""What a procedure id may be: the name of a folder of the tasks folder, 1 to 100
letters, digits, ``_`` and ``-`` (no path parts: no ``/``, no ``..``)."""

PRIVACY_MODEL = "privacy"
"""The sub-folder of a procedure's model folder that holds its privacy model: trained on
audio decimated to 1 kHz (``prism train ... --privacy-rate 1000``)."""


def model_folder(models_dir: Path, procedure_id: str, *, privacy: bool = False) -> Path:
    """The folder of a procedure's model (``privacy``: of its privacy model)."""
    folder = models_dir / procedure_id
    return folder / PRIVACY_MODEL if privacy else folder


@dataclass(frozen=True)
class Reloaded:
    """What :meth:`Procedures.reload` found, each list sorted.

    Attributes
    ----------
    added, changed, removed : list of str
        Procedure ids whose ``procedure.yaml`` appeared, changed (its bytes) or went
        since the previous look (the start of the service, or the last reload).
    broken : dict of str to str
        Why each procedure whose file cannot be loaded is unusable (file and line).
    models, privacy_models : list of str
        The procedures the models folder has a model (a privacy model) for.
    """

    added: list[str]
    changed: list[str]
    removed: list[str]
    broken: dict[str, str]
    models: list[str]
    privacy_models: list[str]

    def as_json(self) -> dict[str, Any]:
        """The summary as JSON-ready data (the fields by name)."""
        return dataclasses.asdict(self)


class Procedures:
    """The procedures of ``tasks_dir`` (``<id>/procedure.yaml``) and whether
    ``models_dir`` has a model for each; each is loaded (and drawn) at most once, and a
    broken file is read once too, until :meth:`reload` reads the folder again.

    Parameters
    ----------
    tasks_dir, models_dir : Path
    """

    def __init__(self, tasks_dir: Path, models_dir: Path) -> None:
        self.tasks_dir, self.models_dir = tasks_dir, models_dir
        self._loaded: dict[str, Procedure] = {}
        self._broken: dict[str, str] = {}
        """Why each procedure whose file cannot be loaded is unusable."""
        self._pictures: dict[str, bytes] = {}
        self._digests = self._files()
        """The SHA-256 of each procedure file at the previous look."""

    def _files(self) -> dict[str, bytes]:
        """The SHA-256 of each procedure file of the tasks folder, by id (a file that
        goes while it is read is left out)."""
        digests = {}
        for procedure_id in self.ids():
            try:
                data = (self.tasks_dir / procedure_id / "procedure.yaml").read_bytes()
            except OSError:
                continue
            digests[procedure_id] = hashlib.sha256(data).digest()
        return digests

    def reload(self) -> Reloaded:
        """Read the tasks folder again: forget every procedure loaded (and every broken
        file, and every picture), load each one now, and say what changed since the
        previous look. Objects handed out before stay as they were (running sessions
        keep their procedure)."""
        before, now = self._digests, self._files()
        self._loaded.clear()
        self._broken.clear()
        self._pictures.clear()
        for procedure_id in now:
            self._load(procedure_id)
        self._digests = now
        return Reloaded(
            added=sorted(now.keys() - before.keys()),
            changed=sorted(i for i in now.keys() & before.keys() if now[i] != before[i]),
            removed=sorted(before.keys() - now.keys()),
            broken=dict(sorted(self._broken.items())),
            models=[i for i in sorted(now) if self.has_model(i)],
            privacy_models=[i for i in sorted(now) if self.has_model(i, privacy=True)],
        )

    def ids(self) -> list[str]:
        """The ids of the procedures in the tasks folder, sorted."""
        return sorted(
            path.parent.name
            for path in self.tasks_dir.glob("*/procedure.yaml")
            if PROCEDURE_ID.fullmatch(path.parent.name)
        )

    def get(self, procedure_id: str) -> Procedure:
        """A procedure of the tasks folder.

        Raises
        ------
        ProcedureNotFoundError
            If ``procedure_id`` is not one of :meth:`ids` (anything else, a path
            included, is refused before the file system is asked).
        ProcedureUnusableError
            If its ``procedure.yaml`` cannot be loaded; the message names the file (in
            the tasks folder) and each problem with its line.
        """
        if procedure_id in self._loaded:
            return self._loaded[procedure_id]
        if procedure_id not in self._broken:
            if not PROCEDURE_ID.fullmatch(procedure_id) or procedure_id not in self.ids():
                raise ProcedureNotFoundError(unknown("procedure", procedure_id))
            self._load(procedure_id)
        if procedure_id in self._broken:
            raise ProcedureUnusableError(self._broken[procedure_id])
        return self._loaded[procedure_id]

    def _load(self, procedure_id: str) -> None:
        """Load the procedure of a listed id, or keep why it cannot be used (logged once)."""
        try:
            self._loaded[procedure_id] = load_procedure(
                self.tasks_dir / procedure_id / "procedure.yaml"
            )
        except ProcedureFileError as error:
            # the file as the tasks folder names it: the server's own paths stay private
            name = f"{procedure_id}/procedure.yaml"
            issues = "; ".join(str(dataclasses.replace(i, file=name)) for i in error.issues)
            log.error("procedure %s cannot be loaded: %s", procedure_id, error)
            self._broken[procedure_id] = f"procedure {procedure_id!r} is broken: {issues}"

    def has_model(self, procedure_id: str, *, privacy: bool = False) -> bool:
        """Whether the models folder has a model for the procedure (``privacy``: a
        privacy model)."""
        return model_folder(self.models_dir, procedure_id, privacy=privacy).is_dir()

    def picture(self, procedure_id: str) -> bytes:
        """The procedure's graph as SVG (raises like :meth:`get`)."""
        if procedure_id not in self._pictures:
            procedure = self.get(procedure_id)
            with tempfile.TemporaryDirectory() as folder:
                path = render_procedure(procedure, Path(folder) / "procedure.svg")
                self._pictures[procedure_id] = path.read_bytes()
        return self._pictures[procedure_id]
