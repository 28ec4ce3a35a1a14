"""Procedures from plain-text recipes: prism.procedure.from_text, its helpers, the
``prism procedure from-text`` command and its LLM proposal path."""

from __future__ import annotations

import doctest
import json
import re
import textwrap
from itertools import pairwise
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import OpenAIStub
from prism import text as text_module
from prism.assistant import Assistant, AssistantContext, DoneStep, StepBelief
from prism.cli import app
from prism.errors import ProcedureError, ProcedureTextError
from prism.procedure import from_text as from_text_module
from prism.procedure import (
    text_cues,
    text_durations,
    text_layout,
    text_names,
    text_proposal,
    text_verbs,
)
from prism.procedure.checks import END, START
from prism.procedure.from_text import (
    OPTIONAL_TAKEN,
    TextProcedure,
    chain_transitions,
    dump_text_procedure,
    procedure_from_file,
    procedure_from_text,
    read_text_file,
)
from prism.procedure.io import load_procedure, parse_procedure
from prism.procedure.model import Procedure
from prism.procedure.text_durations import KIND_PRIORS, read_duration, time_spans
from prism.procedure.text_layout import read_layout
from prism.procedure.text_names import short_name, step_ids, unique_names
from prism.procedure.text_proposal import apply_proposal, proposal_messages
from prism.procedure.text_verbs import StepKind
from prism.tracker import StepTracker

RECIPES = Path(__file__).resolve().parents[1] / "datasets" / "recipes"
RECIPE_FILES = sorted(RECIPES.glob("*.txt"))
EXPECTED: dict[str, list[str]] = json.loads((RECIPES / "expected.json").read_text("utf-8"))

TEA = """\
Cup of tea

1. Wash your hands.
2. Boil the water in the kettle.
3. Add sugar if you like.
4. Pour the water over the tea bag and steep for 3 minutes.
"""


def _reachable_without(procedure: Procedure, skipped: str) -> bool:
    """Whether ``end`` can be reached from ``start`` without passing through ``skipped``."""
    seen, stack = {START}, [START]
    while stack:
        for dst, probability in procedure.transitions.get(stack.pop(), {}).items():
            if probability > 0 and dst != skipped and dst not in seen:
                seen.add(dst)
                stack.append(dst)
    return END in seen


def _tea() -> TextProcedure:
    return procedure_from_text(TEA, procedure_id="tea", filename="tea.txt")


# --- the modules' own examples ------------------------------------------------------


@pytest.mark.parametrize(
    "module",
    [
        from_text_module,
        text_cues,
        text_durations,
        text_layout,
        text_names,
        text_proposal,
        text_verbs,
        text_module,
    ],
    ids=lambda module: module.__name__,
)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.failed == 0


# --- the recipe data set --------------------------------------------------------------


def test_the_data_set_has_enough_texts_and_expected_steps_for_each() -> None:
    assert len(RECIPE_FILES) >= 20
    assert set(EXPECTED) == {path.stem for path in RECIPE_FILES}


@pytest.mark.parametrize("path", RECIPE_FILES, ids=[p.stem for p in RECIPE_FILES])
def test_every_recipe_becomes_a_valid_procedure_with_the_written_steps(path: Path) -> None:
    reading = procedure_from_file(path, procedure_id=path.stem)
    procedure = reading.procedure
    descriptions = [step.description for step in procedure.steps]
    expected = EXPECTED[path.stem]
    assert len(descriptions) == len(expected), descriptions
    for description, prefix in zip(descriptions, expected, strict=True):
        assert description.startswith(prefix), (description, prefix)
    # the file written reads back, valid, to the same steps
    again = parse_procedure(dump_text_procedure(reading), filename=f"{path.stem}.yaml")
    assert again.step_ids == procedure.step_ids
    assert [s.description for s in again.steps] == descriptions
    assert all(step.name and len(step.name.split()) <= 5 for step in procedure.steps)


def test_the_recipes_notes_come_from_their_phrases() -> None:
    flags = {}
    for path in RECIPE_FILES:
        reading = procedure_from_file(path, procedure_id=path.stem)
        pairs = zip(reading.procedure.steps, reading.steps, strict=True)
        for index, (step, read) in enumerate(pairs, 1):
            flags[path.stem, index] = (
                read.optional is not None,
                step.notes.time_critical,
                read.safety is not None,
            )
            assert step.notes.must_not_skip == (read.optional is None)
    optional = {key for key, value in flags.items() if value[0]}
    assert optional == {
        ("blender_banana_pancakes", 9),  # if you like
        ("cucumber_raita", 6),  # if you like
        ("first_aid_minor_burn", 5),  # if needed
        ("packing_a_parcel", 5),  # if you have one
        ("spicy_tuna_avocado_wraps", 8),  # if you want
        ("tomato_mozzarella_salad", 5),  # Optionally,
        ("zoodles", 8),  # if desired
    }
    assert flags["scrambled_eggs", 2][2]  # wash your hands after the raw egg
    assert flags["herb_omelet_with_fried_tomatoes", 3][2]  # hot oil
    assert flags["coffee_machine_descale", 1][2]  # unplug
    assert flags["spicy_tuna_avocado_wraps", 4][2]  # the knife is sharp
    assert flags["dressed_up_meatballs", 9][2]  # oven mitt
    assert flags["tomato_chutney", 4][1]  # as soon as
    assert flags["zoodles", 4][1]  # careful not to burn
    assert flags["scrambled_eggs", 7][1]  # don't overcook
    assert flags["caprese_bruschetta", 7][1]  # straight away


# --- durations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mean", "std"),
    [
        ("Blitz for 30 seconds.", 30.0, 4.5),
        ("Simmer for 2-3 minutes.", 150.0, 30.0),
        ("Simmer for 2\u20133 minutes.", 150.0, 30.0),
        ("Roast for about 1 hour.", 3600.0, 540.0),
        ("Bake 10 to 12 min.", 660.0, 99.0),
        ("Microwave for 1 minute 20 seconds.", 80.0, 12.0),
        ("Microwave for 1 hour and 15 minutes.", 4500.0, 675.0),
        ("Cook for 2 minutes, stir, then cook 3 more minutes.", 300.0, 45.0),
        ("Melt for 30 sec. Check after 30 seconds and give it 10 seconds more.", 40.0, 6.0),
        ("Cook for five minutes.", 300.0, 45.0),
        ("Leave for half an hour.", 1800.0, 270.0),
        ("Heat for a minute or two.", 90.0, 30.0),
        ("Steam for 1 1/2 minutes.", 90.0, 13.5),
        ("Toast for 90s.", 90.0, 13.5),
        ("Cook for a few minutes.", 210.0, 90.0),
    ],
    ids=[
        "seconds",
        "range",
        "en-dash",
        "about-an-hour",
        "to-range",
        "compound",
        "hour-and-minutes",
        "sum",
        "condition-left-out",
        "number-word",
        "half-an-hour",
        "minute-or-two",
        "mixed-fraction",
        "short-unit",
        "a-few",
    ],
)
def test_written_times_become_the_duration(text: str, mean: float, std: float) -> None:
    reading = read_duration(text)
    assert reading.from_text
    assert reading.duration.mean == pytest.approx(mean)
    assert reading.duration.std == pytest.approx(std)


def test_a_range_gives_a_prior_inside_it() -> None:
    duration = read_duration("Simmer for 2-3 minutes.").duration
    assert 120.0 <= duration.mean <= 180.0
    assert 0 < duration.std <= 30.0


def test_bounds_and_open_ended_steps() -> None:
    at_least = read_duration("Wash for at least 20 seconds.").duration
    assert at_least.min == 20.0 and at_least.mean == 25.0 and at_least.max is None
    up_to = read_duration("Let it rest for up to 10 minutes.").duration
    assert up_to.max == 600.0 and up_to.mean == 450.0
    timed = read_duration("Fry for 5 minutes until golden.", open_ended=True).duration
    assert timed.mean == 300.0 and timed.std >= 0.5 * 300.0 and timed.max is None
    cue_only = read_duration("Fry until golden.", open_ended=True)
    assert not cue_only.from_text and cue_only.duration.std >= 0.5 * cue_only.duration.mean


@pytest.mark.parametrize(
    "text",
    ["Add 2 eggs.", "Preheat the oven to 200 C.", "Cut into 1 inch cubes.", "Use 3 s-hooks."],
    ids=["quantity", "temperature", "length", "letter-after-digit-word"],
)
def test_numbers_that_are_not_times_are_not_read_as_times(text: str) -> None:
    assert time_spans(text) == []
    assert not read_duration(text).from_text


def test_steps_without_times_get_the_prior_of_their_kind() -> None:
    bake = read_duration("Bake the cake until a skewer comes out clean.")
    fry = read_duration("Fry the onions.")
    chop = read_duration("Chop the onions finely.")
    add = read_duration("Add the salt.")
    assert (bake.kind, fry.kind, chop.kind, add.kind) == (
        StepKind.LONG,
        StepKind.HEAT,
        StepKind.CUT,
        StepKind.QUICK,
    )
    means = [r.duration.mean for r in (bake, fry, chop, add)]
    assert means == sorted(means, reverse=True)
    assert add.duration == KIND_PRIORS[StepKind.QUICK]
    # the longest kind of a step's verbs counts: adding, then frying, is frying
    assert read_duration("Add the onions and fry them.").kind == StepKind.HEAT


# --- cues: optional, time-critical, safety --------------------------------------------


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("Garnish with parsley if desired.", "if desired"),
        ("Add a pinch of chilli if you like.", "if you like"),
        ("Add more water if needed.", "if needed"),
        ("Optionally, toast the nuts.", "Optionally"),
        ("Optional: sprinkle with herbs.", "Optional"),
        ("Add the nuts, if using.", "if using"),
        ("If the dough is sticky, add a little flour.", "If the dough is sticky"),
        ("Melt for 30 s. Give it 10 s more if needed.", None),
        ("Stir in the cheese.", None),
    ],
    ids=[
        "if-desired",
        "if-you-like",
        "if-needed",
        "optionally",
        "optional-colon",
        "if-using",
        "condition",
        "later-sentence",
        "none",
    ],
)
def test_optional_cues(text: str, cue: str | None) -> None:
    assert text_cues.optional_cue(text) == cue


def test_an_optional_step_can_be_skipped_by_the_graph() -> None:
    procedure = _tea().procedure
    assert procedure.transitions["boil_water"] == {
        "add_sugar": OPTIONAL_TAKEN,
        "pour_water": 1 - OPTIONAL_TAKEN,
    }
    assert _reachable_without(procedure, "add_sugar")
    assert not _reachable_without(procedure, "boil_water")
    assert not procedure.step("add_sugar").notes.must_not_skip
    assert all(procedure.step(s).notes.must_not_skip for s in ("boil_water", "pour_water"))
    # the required steps keep the written order; the optional one is in no pair
    assert procedure.precedence == (("wash_hands", "boil_water"), ("boil_water", "pour_water"))


def test_consecutive_and_trailing_optional_steps() -> None:
    rows = chain_transitions(["a", "b", "c", "d"], [True, True, False, True], taken=0.5)
    assert rows[START] == {"a": 0.5, "b": 0.25, "c": 0.25}
    assert rows["a"] == {"b": 0.5, "c": 0.5}
    assert rows["c"] == {"d": 0.5, END: 0.5}
    assert rows["d"] == {END: 1.0}
    for row in rows.values():
        assert sum(row.values()) == pytest.approx(1.0)
    everything_optional = chain_transitions(["a"], [True])
    assert everything_optional[START] == {"a": 0.5, END: 0.5}


@pytest.mark.parametrize(
    ("text", "critical", "safe"),
    [
        ("Serve immediately.", True, False),
        ("Drain the pasta as soon as it is tender.", True, False),
        ("Stir the sauce. Do not let it boil.", True, False),
        ("Pour the caramel before it sets.", True, False),
        ("Cook the fish gently; don't overcook it.", True, False),
        ("Wash your hands with soap.", False, True),
        ("Cut the raw chicken into strips.", False, True),
        ("Lower the basket into the hot oil.", False, True),
        ("Unplug the blender before cleaning it.", False, True),
        ("Slice with a sharp knife.", False, True),
        ("Check the label for allergens.", False, True),
        ("Put on disposable gloves.", False, True),
        ("Disinfect the worktop.", False, True),
        ("Add the sugar.", False, False),
    ],
    ids=[
        "immediately",
        "as-soon-as",
        "do-not-let",
        "before-it-sets",
        "dont-overcook",
        "wash-hands",
        "raw-chicken",
        "hot-oil",
        "unplug",
        "sharp",
        "allergy",
        "glove",
        "disinfect",
        "none",
    ],
)
def test_time_critical_and_safety_notes(text: str, critical: bool, safe: bool) -> None:
    reading = procedure_from_text(f"1. {text}\n2. Serve.", procedure_id="t")
    step = reading.procedure.steps[0]
    assert step.notes.time_critical == critical
    assert (reading.steps[0].safety is not None) == safe
    assert step.notes.must_not_skip  # a step the text does not make optional is required
    if critical or safe:  # the reminder is the sentence that says why
        assert step.notes.reminder is not None and step.notes.reminder in text
    else:
        assert step.notes.reminder is None


def test_an_optional_safety_step_is_not_must_not_skip() -> None:
    reading = procedure_from_text(
        "1. Chop the onion.\n2. Put on gloves if you like.\n3. Serve.", procedure_id="t"
    )
    assert not reading.procedure.steps[1].notes.must_not_skip
    assert reading.steps[1].safety is None and reading.procedure.steps[1].notes.reminder is None


def test_open_ended_steps_are_flagged_and_widened() -> None:
    reading = procedure_from_text(
        "1. Fry the onions until golden.\n2. Fry the garlic for 1 minute.", procedure_id="t"
    )
    assert reading.steps[0].open_ended == "until golden"
    assert reading.steps[1].open_ended is None
    onions = reading.procedure.steps[0].duration
    assert onions.max is None and onions.std >= 0.5 * onions.mean
    assert "until golden" in dump_text_procedure(reading).split("format_version")[0]


# --- layout ---------------------------------------------------------------------------

_THREE = ["Boil the water.", "Add the tea bag.", "Pour the water into the cup."]


@pytest.mark.parametrize(
    "text",
    [
        "1. Boil the water.\n2. Add the tea bag.\n3. Pour the water into the cup.",
        "1) Boil the water.\n2) Add the tea bag.\n3) Pour the water into the cup.",
        "(1) Boil the water.\n(2) Add the tea bag.\n(3) Pour the water into the cup.",
        "Step 1: Boil the water.\nStep 2: Add the tea bag.\nStep 3: Pour the water into the cup.",
        "Step one. Boil the water.\nStep two. Add the tea bag.\nStep three. Pour the water into"
        " the cup.",
        "- Boil the water.\n- Add the tea bag.\n- Pour the water into the cup.",
        "* Boil the water.\n* Add the tea bag.\n* Pour the water into the cup.",
        "• Boil the water.\n• Add the tea bag.\n• Pour the water into the cup.",
        "Boil the water.\n\nAdd the tea bag.\n\nPour the water into the cup.",
        "Boil the water.\nAdd the tea bag.\nPour the water into the cup.",
        "Boil the water. Add the tea bag. Pour the water into the cup.",
        "1. Boil the\n   water.\n2. Add the tea\n   bag.\n3. Pour the water\ninto the cup.",
        "Step 1:\nBoil the water.\nStep 2:\nAdd the tea bag.\nStep 3:\nPour the water into the"
        " cup.",
        "1. Boil the water.\r\n2. Add the tea bag.\r\n3. Pour the water into the cup.\r\n",
    ],
    ids=[
        "numbered-dot",
        "numbered-paren",
        "numbered-brackets",
        "step-colon",
        "step-words",
        "dash",
        "star",
        "bullet",
        "paragraphs",
        "lines",
        "one-paragraph",
        "wrapped",
        "step-headers",
        "crlf",
    ],
)
def test_step_layouts(text: str) -> None:
    layout = read_layout(text)
    assert [step.text for step in layout.steps] == _THREE
    assert layout.title is None


def test_title_lists_introduction_and_metadata() -> None:
    layout = read_layout(
        "# Green tea\n\nA calm cup.\n\nServes 1\n\nYou will need:\n- a tea bag\n- a cup,\n"
        "  preferably warm\n\nMethod:\n1. Boil the water.\n   Let it cool a little.\n"
        "   - about 80 C\n2. Steep for 2 minutes.\nTip: do not squeeze the bag.\n\nNotes:\n"
        "Green tea turns bitter when too hot.\n"
    )
    assert layout.title == "Green tea"
    assert [step.text for step in layout.steps] == [
        "Boil the water. Let it cool a little. about 80 C",
        "Steep for 2 minutes. Tip: do not squeeze the bag.",
    ]
    assert [step.line for step in layout.steps] == [13, 16]
    assert [(s.heading, s.items) for s in layout.lists] == [
        ("You will need", ("a tea bag", "a cup, preferably warm")),
        ("Notes", ("Green tea turns bitter when too hot.",)),
    ]
    assert layout.notes == ("Serves 1", "A calm cup.")


def test_a_list_that_is_not_steps_ends_where_steps_start() -> None:
    layout = read_layout("Ingredients:\n- 2 eggs\n- salt\n\n1. Beat the eggs.\n2. Salt them.")
    assert [s.text for s in layout.steps] == ["Beat the eggs.", "Salt them."]
    unlabelled = read_layout("Omelette\n\n2 eggs\n1 pinch salt\n\nBeat the eggs.\n\nFry them.")
    assert unlabelled.title == "Omelette"
    assert unlabelled.lists[0].items == ("2 eggs", "1 pinch salt")
    assert [s.text for s in unlabelled.steps] == ["Beat the eggs.", "Fry them."]


def test_an_instruction_line_is_not_a_title_in_plain_paragraphs() -> None:
    layout = read_layout("Boil the water\n\nAdd the tea bag.")
    assert layout.title is None and len(layout.steps) == 2
    titled = read_layout("Title: Tea\n\nBoil the water\n\nAdd the tea bag.")
    assert titled.title == "Tea" and len(titled.steps) == 2


# --- names and ids --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Wash your hands with soap and warm water.", "Wash hands"),
        ("Heat 2 tbsp of oil in a large pan.", "Heat oil"),
        ("Add 1/4 teaspoon of red chilli powder to the bowl.", "Add red chilli powder"),
        ("In a mixing bowl, whisk the curd until smooth.", "Whisk curd"),
        ("Once the pan is hot, add the mushrooms.", "Add mushrooms"),
        ("Then, gently fold in the flour.", "Fold in flour"),
        ("Peel and chop the onion.", "Peel and chop onion"),
        ("Let the tea steep for 3 minutes.", "Let tea steep"),
        ("Put on a pair of clean gloves.", "Put on clean gloves"),
        ("Take the pan off the heat.", "Take pan off"),
        ("Cut the avocado in half.", "Cut avocado"),
        ("Allow the mixture to simmer.", "Allow mixture to simmer"),
        ("écraser l'ail.", "Écraser l'ail"),
        ("3 * 4 = 12", ""),
    ],
    ids=[
        "object",
        "quantity",
        "unit-of",
        "place-clause",
        "condition-clause",
        "filler",
        "two-verbs",
        "let",
        "particle",
        "late-particle",
        "no-late-in",
        "allow-to",
        "non-ascii",
        "no-words",
    ],
)
def test_short_names(text: str, name: str) -> None:
    assert short_name(text) == name


def test_names_and_ids_are_unique_and_valid() -> None:
    names = unique_names(["Stir", "Stir", "Stir", "", "Stir again", "End", "Start"])
    assert names == [
        "Stir",
        "Stir again (repeat)",  # "Stir again" is the name of a later step
        "Stir, 3rd time",
        "Step 4",
        "Stir again",
        "End",
        "Start",
    ]
    ids = step_ids([*names, "!!!", "Écraser l'ail", "x" * 100])
    assert len(set(ids)) == len(ids)
    assert ids[5:7] == ["end_step", "start_step"]
    assert ids[7] == "step_8" and ids[8] == "ecraser_l_ail" and len(ids[9]) == 40
    assert all(re.fullmatch(r"[a-z0-9_]+", i) for i in ids)


# --- errors ---------------------------------------------------------------------------

BAD_FILES: dict[str, tuple[bytes | None, str]] = {
    "empty": (b"", "is empty"),
    "whitespace": (b"  \n\t\n  ", "holds only whitespace"),
    "binary": (b"1. Boil\x00\x01\x02 water", "looks like a binary file .a NUL byte on line 1"),
    "not-utf8": (b"1. Boil water.\n2. Caf\xe9 au lait.", "is not UTF-8 text .byte 0xe9 on line 2"),
    "no-words": (b"1.\n2.\n---\n12345\n", "no recognisable steps .no line has words"),
    "only-ingredients": (
        b"Pancakes\n\nIngredients:\n- 2 eggs\n- flour\n",
        "no recognisable steps .found the title 'Pancakes', a list 'Ingredients' but no steps",
    ),
    "missing": (None, "no such file"),
}


@pytest.fixture
def bad_file(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    content, message = BAD_FILES[request.param]
    path = tmp_path / f"{request.param}.txt"
    if content is not None:
        path.write_bytes(content)
    return path, message


@pytest.mark.parametrize("bad_file", list(BAD_FILES), indirect=True)
def test_bad_text_files_raise_a_clear_error(bad_file: tuple[Path, str]) -> None:
    path, message = bad_file
    with pytest.raises(ProcedureTextError, match=re.escape(str(path)) + ": " + message):
        procedure_from_file(path, procedure_id="x")


@pytest.mark.parametrize("bad_file", list(BAD_FILES), indirect=True)
def test_the_command_exits_2_naming_the_file(bad_file: tuple[Path, str], tmp_path: Path) -> None:
    path, message = bad_file
    out = tmp_path / "out" / "procedure.yaml"
    result = CliRunner().invoke(
        app, ["procedure", "from-text", str(path), "--id", "x", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert re.search(re.escape(str(path)) + ": " + message, " ".join(result.stderr.split()))
    assert not out.exists()


def test_a_directory_is_not_a_text_file(tmp_path: Path) -> None:
    with pytest.raises(ProcedureTextError, match="is a directory, expected a text file"):
        read_text_file(tmp_path)


def test_a_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffTea\n\n1. Boil the water.\n2. Steep.".encode())
    assert procedure_from_file(path, procedure_id="tea").procedure.name == "Tea"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"procedure_id": "my tea"}, "procedure id 'my tea': use only letters"),
        ({"procedure_id": "tea", "name": "  "}, "name must not be blank"),
    ],
    ids=["bad-id", "blank-name"],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ProcedureError, match=message):
        procedure_from_text(TEA, **kwargs)


# --- properties -----------------------------------------------------------------------

_VERBS = ["Chop", "Add", "Stir", "Pour", "Heat", "Whisk", "Slice", "Rinse", "Place", "Bake",
          "Fold", "Peel", "Serve", "Wipe", "Press", "Open", "Knead", "Drain"]  # fmt: skip
_OBJECTS = ["the onion", "two eggs", "the milk", "a cup of flour", "the pan", "some butter",
            "the lid", "the dough", "a clean towel", "the garlic", "it"]  # fmt: skip
_TAILS = ["", " for 2 minutes", " until golden", " in a bowl", ", then set it aside",
          " if you like", " with a spoon", " for about 10-12 min"]  # fmt: skip
_SECOND = ["", " Take care.", " Do it gently.", " Wash your hands after.", " Let it rest."]

_STEPS = st.builds(
    lambda verb, obj, tail, second: f"{verb} {obj}{tail}.{second}",
    st.sampled_from(_VERBS),
    st.sampled_from(_OBJECTS),
    st.sampled_from(_TAILS),
    st.sampled_from(_SECOND),
)


def _render(steps: list[str], style: str, wrap: bool) -> str:
    width = 30 if wrap else 1000
    if style in ("1.", "1)", "Step 1:", "-", "*", "•"):
        lines = []
        for number, step in enumerate(steps, 1):
            marker = style.replace("1", str(number))
            body = textwrap.wrap(step, width)
            lines.append(f"{marker} {body[0]}")
            lines += [f"   {line}" for line in body[1:]]
        return "\n".join(lines)
    if style == "paragraphs":
        return "\n\n".join("\n".join(textwrap.wrap(step, width)) for step in steps)
    return "\n".join(steps)  # one step per line


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(_STEPS, min_size=2, max_size=12),
    style=st.sampled_from(["1.", "1)", "Step 1:", "-", "*", "•", "paragraphs", "lines"]),
    wrap=st.booleans(),
    title=st.sampled_from(["", "Simple supper", "Grandma's onion soup"]),
    ingredients=st.booleans(),
)
def test_rendered_steps_are_read_back_in_order(
    steps: list[str], style: str, wrap: bool, title: str, ingredients: bool
) -> None:
    body = _render(steps, style, wrap and style != "lines")
    if ingredients:
        body = "Ingredients:\n- 2 onions\n- 1 cup of flour\n- salt\n\nMethod:\n" + body
    text = f"{title}\n\n{body}\n" if title else body
    reading = procedure_from_text(text, procedure_id="generated")
    assert [s.description for s in reading.procedure.steps] == steps
    assert reading.procedure.name == (title or "Generated")
    optional = [i for i, s in enumerate(steps) if "if you like" in s.split(".")[0]]
    assert [i for i, s in enumerate(reading.steps) if s.optional] == optional


def _check_or_refused(text: str) -> None:
    try:
        reading = procedure_from_text(text, procedure_id="any")
    except ProcedureTextError as error:
        assert str(error).startswith("<text>: ")
        return
    procedure = reading.procedure
    assert procedure.n_steps >= 1 and not procedure.problems()
    again = parse_procedure(dump_text_procedure(reading))
    assert again.step_ids == procedure.step_ids
    assert [s.description for s in again.steps] == [s.description for s in procedure.steps]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_gives_a_valid_procedure_or_the_clear_error(text: str) -> None:
    _check_or_refused(text)


_LINE_PIECES = st.sampled_from(
    ["1.", "2)", "Step 3:", "-", "*", "•", "#", "Ingredients:", "Method:", "Notes:", "Serves 2",
     "Title:", "", "   ", "\t", "if you like", "until golden", "for 2-3 minutes", "hot oil",
     "Wash your hands.", "Chop", "the onion", "Bake", ":", ".", ",", "(", ")", "\u2028", "12",
     "start", "end", "Start.", "End.", "again", "é", "😀", "\x00", "\x1b", "Step", "step 1"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_LINE_PIECES, max_size=6).map(" ".join), max_size=15).map("\n".join))
def test_recipe_like_noise_gives_a_valid_procedure_or_the_clear_error(text: str) -> None:
    _check_or_refused(text)


# --- the command ----------------------------------------------------------------------


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, ["procedure", *args])


def test_the_command_writes_a_procedure_that_validates_and_draws(tmp_path: Path) -> None:
    source = RECIPES / "tomato_chutney.txt"
    out = tmp_path / "tasks" / "chutney" / "procedure.yaml"  # the folders do not exist yet
    result = _run("from-text", str(source), "--id", "chutney", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout
    assert "Quick tomato chutney" in result.stdout and "as_soon_as" not in result.stdout
    procedure = load_procedure(out)
    assert procedure.id == "chutney" and procedure.n_steps == 8
    assert "Ingredients: 1 tomato; 4 large garlic cloves" in procedure.description
    assert out.read_text("utf-8").startswith("# Quick tomato chutney: read from tomato_chutney.txt")
    validated = _run("validate", str(out))
    assert validated.exit_code == 0 and validated.stdout.startswith("ok  ")
    picture = tmp_path / "chutney.svg"
    drawn = _run("show", str(out), "--out", str(picture))
    assert drawn.exit_code == 0, drawn.output
    assert picture.stat().st_size > 1000 and "<svg" in picture.read_text("utf-8")


def test_an_existing_out_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "procedure.yaml"
    out.write_text("keep me", encoding="utf-8")
    source = RECIPES / "zoodles.txt"
    refused = _run("from-text", str(source), "--id", "zoodles", "--out", str(out))
    assert refused.exit_code == 2
    assert f"--out {out} exists; pass --force" in " ".join(refused.stderr.split())
    assert out.read_text("utf-8") == "keep me"
    forced = _run("from-text", str(source), "--id", "zoodles", "--out", str(out), "--force")
    assert forced.exit_code == 0 and load_procedure(out).n_steps == 8
    directory = _run("from-text", str(source), "--id", "z", "--out", str(tmp_path), "--force")
    assert directory.exit_code == 2 and "is a directory" in directory.stderr
    bad_id = _run("from-text", str(source), "--id", "my zoodles", "--out", str(tmp_path / "a"))
    assert bad_id.exit_code == 2 and "procedure id 'my zoodles'" in bad_id.stderr


def test_the_command_prints_json(tmp_path: Path) -> None:
    out = tmp_path / "procedure.yaml"
    result = _run(
        "from-text", str(RECIPES / "zoodles.txt"), "--id", "z", "--out", str(out), "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["out"] == str(out) and report["llm"] is None
    steps = report["steps"]
    assert [s["line"] for s in steps] == [3, 4, 5, 7, 9, 11, 12, 13]
    assert steps[3]["time_critical"] and steps[3]["open_ended"] == "until it smells fragrant"
    assert steps[5]["duration_s"] == {"mean": 120.0, "std": 60.0}
    assert steps[7]["optional"] == "if desired" and steps[2]["kind"] == "heat"


def test_the_assistant_answers_about_a_generated_procedure_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = tmp_path / "tasks"
    monkeypatch.setenv("PRISM_TASKS_DIR", str(tasks))  # where `prism eval qa` looks
    out = tasks / "egg_muffin" / "procedure.yaml"
    source = RECIPES / "microwave_egg_sandwich.txt"
    assert _run("from-text", str(source), "--id", "egg_muffin", "--out", str(out)).exit_code == 0
    procedure = load_procedure(out)
    context = AssistantContext(
        procedure,
        done=(DoneStep("spray"), DoneStep("crack_egg")),
        current=(StepBelief("microwave", 0.9),),
    )
    assistant = Assistant(procedure)
    assert assistant.reply("what's next?", context).text == "Next: stir egg."
    how_long = assistant.reply("how long do I microwave it?", context).text or ""
    assert "30 seconds" in how_long
    how = assistant.reply("how do I cut the muffin?", context).text or ""
    assert "in half with a knife" in how
    # the question set of `prism eval qa` finds it in the tasks folder
    question = {
        "id": "q1",
        "task": "egg_muffin",
        "done_steps": ["spray", "crack_egg"],
        "current_step": "microwave",
        "current_probability": 0.9,
        "alternatives": [],
        "elapsed_s": 40.0,
        "question": "what's next?",
        "expected": "Next: stir the egg.",
    }
    questions = tmp_path / "qa.jsonl"
    questions.write_text(json.dumps(question) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "qa", "--questions", str(questions), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["answers"][0]["answer"] == "Next: stir egg." and report["correctness"] == 1.0


def test_the_tracker_follows_a_generated_procedure(one_hot: Any) -> None:
    reading = procedure_from_file(RECIPES / "spiced_hot_chocolate.txt", procedure_id="c")
    procedure = reading.procedure
    tracker = StepTracker(procedure)
    frames = one_hot(np.repeat(np.arange(procedure.n_steps), 25), procedure.n_steps + 1, high=0.8)
    states = [tracker.update(frame) for frame in frames]
    assert [states[k].current_step for k in (10, 35, 60, 99)] == list(procedure.step_ids)


def test_the_assistant_knows_which_written_steps_may_be_skipped() -> None:
    procedure = _tea().procedure
    context = AssistantContext(
        procedure, done=(DoneStep("wash_hands"),), current=(StepBelief("boil_water", 0.9),)
    )
    assistant = Assistant(procedure)
    assert assistant.reply("do I have to add the sugar?", context).text == (
        "No, it is optional here."
    )
    required = assistant.reply("can I skip pouring the water?", context).text or ""
    assert required.startswith("No, don't skip it")


# --- the LLM's proposal ---------------------------------------------------------------

GOOD_PROPOSAL = {
    "steps": [
        {"id": "wash_hands", "name": "Wash hands", "must_not_skip": True,
         "reminder": "Wash your hands before you start."},
        {"id": "boil_water", "name": "Boil water"},
        {"id": "add_sugar", "name": "Sweeten"},
        {"id": "pour_water", "name": "Steep tea", "time_critical": True,
         "reminder": "Take the bag out after 3 minutes."},
    ],
    "precedence": [["boil_water", "pour_water"]],
}  # fmt: skip


def _proposal(**changes: Any) -> dict[str, Any]:
    """:data:`GOOD_PROPOSAL` with some keys replaced."""
    return json.loads(json.dumps(GOOD_PROPOSAL)) | changes


def _steps_with(index: int, **changes: Any) -> list[dict[str, Any]]:
    """The steps of :data:`GOOD_PROPOSAL`, step ``index`` with some keys replaced."""
    steps: list[dict[str, Any]] = _proposal()["steps"]
    steps[index] |= changes
    return steps


def test_a_valid_proposal_is_applied() -> None:
    reading = _tea()
    reply = "Here you are:\n```json\n" + json.dumps(GOOD_PROPOSAL) + "\n```"
    proposed = apply_proposal(reading, reply, model="local")
    procedure = proposed.procedure
    assert procedure.step_ids == ("wash_hands", "boil_water", "sweeten", "steep_tea")
    assert procedure.precedence == (("boil_water", "steep_tea"),)
    assert procedure.transitions["boil_water"] == {"sweeten": 0.5, "steep_tea": 0.5}
    assert procedure.step("steep_tea").notes.time_critical
    assert [s.description for s in procedure.steps] == [
        s.description for s in reading.procedure.steps
    ]
    assert procedure.source.endswith("proposed by an LLM (local)")
    assert [s.id for s in proposed.steps] == list(procedure.step_ids)
    draft = json.loads(proposal_messages(reading)[1]["content"].split("Draft:\n", 1)[1])
    assert [s["optional"] for s in draft["steps"]] == [False, False, True, False]
    # no pairs proposed: the written order of the required steps is kept
    kept = apply_proposal(reading, json.dumps(_proposal(precedence=[]))).procedure
    assert kept.precedence == (("wash_hands", "boil_water"), ("boil_water", "steep_tea"))


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("I cannot help with that.", "the reply holds no JSON object"),
        ("{not json}", "reply: Invalid JSON"),
        (json.dumps(_proposal(steps=GOOD_PROPOSAL["steps"][:3])), "it lists the steps"),
        (json.dumps(_proposal(extra=1)), "extra: Extra inputs are not permitted"),
        (
            json.dumps(_proposal(steps=_steps_with(2, must_not_skip=True, reminder="Sugar!"))),
            "step 'add_sugar' is optional in the text but marked must_not_skip",
        ),
        (
            json.dumps(_proposal(precedence=[["pour_water", "boil_water"]])),
            "goes against the written order",
        ),
        (
            json.dumps(_proposal(precedence=[["add_sugar", "pour_water"]])),
            "'add_sugar' is optional, it cannot be required first",
        ),
        (
            json.dumps(_proposal(precedence=[["boil_water", "kettle"]])),
            "expected two different step ids",
        ),
        (
            json.dumps(_proposal(steps=[{**s, "name": "Boil"} for s in GOOD_PROPOSAL["steps"]])),
            "name 'Boil' is used twice",
        ),
        (
            json.dumps(_proposal(steps=_steps_with(3, reminder=None))),
            "step 'pour_water' is time-critical but has no reminder",
        ),
    ],
    ids=[
        "no-json",
        "bad-json",
        "missing-step",
        "unknown-key",
        "optional-required",
        "against-order",
        "optional-first",
        "unknown-step",
        "same-name",
        "no-reminder",
    ],
)
def test_an_invalid_proposal_is_refused_with_the_reason(reply: str, message: str) -> None:
    with pytest.raises(ProcedureTextError, match=re.escape(message)) as caught:
        apply_proposal(_tea(), reply)
    assert str(caught.value).startswith("tea.txt: the LLM's proposal is not used: ")


@pytest.fixture
def tea_file(tmp_path: Path) -> Path:
    path = tmp_path / "tea.txt"
    path.write_text(TEA, encoding="utf-8")
    return path


def _llm_run(stub: OpenAIStub, source: Path, out: Path, *extra: str) -> Any:
    return _run(
        "from-text", str(source), "--id", "tea", "--out", str(out), "--llm",
        "--llm-base-url", stub.url, "--llm-model", "local", "--llm-timeout", "2", *extra,
    )  # fmt: skip


def test_the_command_shows_the_llms_diff_and_writes_its_procedure(
    openai_stub: OpenAIStub, tea_file: Path, tmp_path: Path
) -> None:
    openai_stub.script = {"text": json.dumps(GOOD_PROPOSAL)}
    out = tmp_path / "tea" / "procedure.yaml"
    result = _llm_run(openai_stub, tea_file, out)
    assert result.exit_code == 0, result.output
    assert f"--- {out} (from the text)" in result.stdout
    assert f"+++ {out} (LLM's proposal)" in result.stdout
    assert "-  - id: pour_water" in result.stdout and "+  - id: steep_tea" in result.stdout
    assert "+  - [boil_water, steep_tea]" in result.stdout
    written = load_procedure(out)
    assert written.step_ids[-1] == "steep_tea" and written.precedence
    request = openai_stub.requests[0]
    assert request["model"] == "local" and request["max_tokens"] >= 200 + 80 * 4
    assert "Boil the water in the kettle." in request["messages"][1]["content"]


@pytest.mark.parametrize(
    ("script", "why"),
    [
        ({"text": json.dumps(_proposal(precedence=[["pour_water", "boil_water"]]))},
         "goes against the written order"),
        ({"text": "Sure! Here are better names."}, "the reply holds no JSON object"),
        ({"status": 500}, "the LLM request failed (InternalServerError"),
        ({"delay_s": 3.0, "text": json.dumps(GOOD_PROPOSAL)}, "the LLM request failed (APITimeout"),
    ],
    ids=["invalid", "prose", "http-500", "timeout"],
)  # fmt: skip
def test_a_failing_llm_keeps_the_deterministic_procedure(
    openai_stub: OpenAIStub, tea_file: Path, tmp_path: Path, script: dict[str, Any], why: str
) -> None:
    openai_stub.script = script
    out = tmp_path / "procedure.yaml"
    result = _llm_run(openai_stub, tea_file, out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert not report["llm"]["used"] and why in report["llm"]["problem"]
    assert out.read_text("utf-8") == dump_text_procedure(
        procedure_from_file(tea_file, procedure_id="tea")
    )
    text = _llm_run(openai_stub, tea_file, out, "--force")
    assert text.exit_code == 0
    assert "writing the procedure read from the text" in " ".join(text.stderr.split())


def test_llm_without_an_endpoint_is_a_bad_option(
    tea_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRISM_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("PRISM_LLM_API_KEY", raising=False)
    result = _run("from-text", str(tea_file), "--id", "tea", "--out", str(tmp_path / "a"), "--llm")
    assert result.exit_code == 2
    assert "--llm needs an OpenAI-compatible endpoint" in " ".join(result.stderr.split())


# --- the tutorial ---------------------------------------------------------------------

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "teach-a-task.md"


def _tutorial_block(fence: str, after: str) -> str:
    text = TUTORIAL.read_text(encoding="utf-8")
    section = text[text.index(after) :]
    start = section.index(fence) + len(fence)
    return section[start : section.index("```", start)].lstrip("\n")


def test_the_tutorial_shows_real_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = RECIPES / "zoodles.txt"
    assert _tutorial_block("```text", "### 1.") == source.read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "120")
    out = "tasks/garlic_zoodles/procedure.yaml"
    result = _run("from-text", str(source), "--id", "garlic_zoodles", "--out", out)
    assert result.exit_code == 0, result.output
    rows = [line.rstrip() for line in result.stdout.splitlines() if line.startswith("│")]
    shown = _tutorial_block("```console", "### 2.").splitlines()
    assert rows == [line.rstrip() for line in shown if line.startswith("│")]
    header = Path(out).read_text(encoding="utf-8").split("format_version")[0]
    assert header in _tutorial_block("```yaml", "### 2.")
    # the assistant's answers shown are its answers
    code = _tutorial_block("```python", "### 4.").splitlines()
    namespace: dict[str, Any] = {}
    setup = [line for line in code if not line.startswith(("assistant.reply", "#"))]
    exec("\n".join(setup), namespace)
    for line, answer in pairwise(code):
        if line.startswith("assistant.reply("):
            assert answer.startswith("# ")
            assert repr(eval(line, namespace)) == answer[2:]
