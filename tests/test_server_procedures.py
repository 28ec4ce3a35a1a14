"""The procedures the service offers: listed, loaded once, unknown ids refused, pictures."""

from __future__ import annotations

from pathlib import Path

import pytest

from prism.server.errors import ProcedureNotFoundError
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
