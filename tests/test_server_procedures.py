"""The procedures the service offers: listed, loaded once, unknown ids refused, pictures."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prism.server.errors import ECHOED_NAME_MAX, ProcedureNotFoundError, ProcedureUnusableError
from prism.server.procedures import Procedures


@pytest.fixture(scope="module")
def procedures() -> Procedures:
    return Procedures(Path("tasks"), Path("models"))


def test_procedures_are_listed_and_loaded_once(procedures: Procedures) -> None:
    assert "latte_making" in procedures.ids() and procedures.ids() == sorted(procedures.ids())
    latte = procedures.get("latte_making")
    assert latte.id == "latte_making" and latte.n_steps == 19
    assert procedures.get("latte_making") is latte
    assert procedures.has_model("latte_making") and not procedures.has_model("wound_care")


@pytest.mark.parametrize("name", ["nope", "x" * 300, "a\x00b"], ids=["unknown", "long", "nul"])
def test_unknown_procedures_are_refused(procedures: Procedures, name: str) -> None:
    with pytest.raises(ProcedureNotFoundError, match="unknown procedure"):
        procedures.get(name)
    with pytest.raises(ProcedureNotFoundError):
        procedures.picture(name)


def test_a_procedures_picture_is_drawn_once(procedures: Procedures) -> None:
    picture = procedures.picture("latte_making")
    assert b"<svg" in picture and b"Steam milk" in picture
    assert procedures.picture("latte_making") is picture


@pytest.mark.parametrize(
    "name",
    ["../tasks/latte_making", "/work/tasks/latte_making", "latte_making/", "./latte_making",
     "latte_making/../latte_making", "..", ".", "", "latte making"],
    ids=["parent", "absolute", "slash", "dot", "dotdot-inside", "dotdot", "here", "empty", "space"],
)  # fmt: skip
def test_a_procedure_id_is_a_name_of_the_tasks_folder_not_a_path(
    procedures: Procedures, name: str
) -> None:
    with pytest.raises(ProcedureNotFoundError, match="unknown procedure"):
        procedures.get(name)


def _tasks(folder: Path, broken: str) -> Path:
    """A tasks folder with the latte procedure and a broken one (``broken`` is its YAML);
    beside it, outside, another broken one."""
    tasks = folder / "tasks"
    (tasks / "latte_making").mkdir(parents=True)
    (tasks / "latte_making" / "procedure.yaml").write_text(
        Path("tasks/latte_making/procedure.yaml").read_text()
    )
    for where in (tasks / "broken", folder / "outside"):
        where.mkdir()
        (where / "procedure.yaml").write_text(broken)
    return tasks


def test_a_broken_procedure_file_is_named_and_read_once(tmp_path: Path) -> None:
    procedures = Procedures(_tasks(tmp_path, "id: broken\nsteps: [\n"), Path("models"))
    assert procedures.ids() == ["broken", "latte_making"]
    for _ in range(2):
        with pytest.raises(
            ProcedureUnusableError, match=r"'broken' is broken: broken/procedure\.yaml:\d"
        ):
            procedures.get("broken")
    with pytest.raises(ProcedureUnusableError) as refused:
        procedures.picture("broken")
    assert str(tmp_path) not in str(refused.value)  # the server's own paths stay private
    with pytest.raises(ProcedureNotFoundError, match=r"unknown procedure '\.\./outside'"):
        procedures.get("../outside")  # a procedure.yaml outside the tasks folder


@given(st.text(max_size=120))
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_other_name_is_unknown_and_never_echoed_long(procedures: Procedures, name: str) -> None:
    if name in procedures.ids():
        return
    with pytest.raises(ProcedureNotFoundError) as refused:
        procedures.get(name)
    message = str(refused.value)
    assert message.startswith("unknown procedure")
    assert len(message) <= len("unknown procedure ''") + 2 * ECHOED_NAME_MAX
