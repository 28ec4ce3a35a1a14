"""Tests for prism.data.captaincook4d on a hand-written fixture and (if present) the real data."""

from __future__ import annotations

import heapq
import itertools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.data.captaincook4d import (
    CaptainCookWarning,
    _topological_order,
    learn_from_captaincook,
    load_captaincook4d,
    normalise_name,
    read_captaincook4d,
    step_name_from_description,
)
from prism.errors import DataError

FIXTURE = Path(__file__).parent / "fixtures" / "captaincook4d_mini"
REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "captaincook4d"

TEA_IDS = (
    "boil_1_cup_of_water",
    "steep_the_tea_bag_for_3_minutes",
    "add_1_tsp_honey_to_the_cup",
    "stir_the_cup_with_a_spoon",
    "stir_the_cup_with_a_spoon_2",
)


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture directory."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "cc4d"))


def _edit_json(path: Path, edit: Callable[[Any], None]) -> None:
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("description", "name"),
    [
        ("Chop-Chop 1 tsp cilantro", "Chop 1 tsp cilantro"),
        (
            "Coat -Coat a 6-oz. ramekin cup with cooking spray",
            "Coat a 6-oz. ramekin cup with cooking spray",
        ),
        ("add-1/4 tsp salt to a bowl", "Add 1/4 tsp salt to a bowl"),
        (
            "mixing-Keep mixing with a spatula for 3 minutes",
            "Keep mixing with a spatula for 3 minutes",
        ),
        ("stir-stir the ramekin cup", "Stir the ramekin cup"),
        ("Mix-Mix 1/4 cup sweet-and-sour sauce", "Mix 1/4 cup sweet-and-sour sauce"),
        ("Mix sweet-and-sour sauce", "Mix sweet-and-sour sauce"),
        (
            "Mix-Mix the contents of the mug thoroughly. (There might be some lumps.)",
            "Mix the contents of the mug thoroughly",
        ),
    ],
    ids=[
        "verb-repeated",
        "spaced-prefix",
        "verb-prepended",
        "verb-inside",
        "lowercase",
        "hyphen-in-text",
        "no-prefix",
        "first-sentence",
    ],
)
def test_step_name_from_description(description: str, name: str) -> None:
    assert step_name_from_description(description)[0] == name


def test_long_description_gives_short_name_and_full_instruction() -> None:
    text = (
        "Trim-Trim the ends of the tortilla roll with the butter knife, leaving 1/2 inch margin "
        "between the last toothpick and the end of the roll"
    )
    name, instruction = step_name_from_description(text)
    assert name == "Trim the ends of the tortilla roll with the butter knife"
    assert instruction.startswith("Trim the ends") and instruction.endswith("end of the roll")


def test_normalise_name_matches_task_graph_stems() -> None:
    assert normalise_name("Herb Omelet with Fried Tomatoes") == "herbomeletwithfriedtomatoes"


def test_recipes_steps_and_precedence() -> None:
    recipes = read_captaincook4d(FIXTURE).recipes
    assert list(recipes) == ["butteredtoast", "greentea"]
    tea = recipes["greentea"]
    assert tea.name == "Green Tea"
    assert tea.procedure_id == "green_tea"
    assert tea.step_ids == TEA_IDS
    assert tea.step_names[3:] == ("Stir the cup with a spoon", "Stir the cup with a spoon (2)")
    assert tea.descriptions[2] == "Add 1 tsp honey to the cup"
    assert tea.precedence == (
        ("boil_1_cup_of_water", "steep_the_tea_bag_for_3_minutes"),
        ("steep_the_tea_bag_for_3_minutes", "stir_the_cup_with_a_spoon"),
        ("stir_the_cup_with_a_spoon", "add_1_tsp_honey_to_the_cup"),
        ("add_1_tsp_honey_to_the_cup", "stir_the_cup_with_a_spoon_2"),
    )
    assert tea.graph_step_ids[5] == "stir_the_cup_with_a_spoon_2"
    assert tea.annotation_step_ids[104] == TEA_IDS[3:]


def test_step_ids_are_unique_and_stable() -> None:
    first = read_captaincook4d(FIXTURE).recipes
    second = read_captaincook4d(FIXTURE).recipes
    for slug, recipe in first.items():
        assert len(set(recipe.step_ids)) == len(recipe.step_ids)
        assert recipe.step_ids == second[slug].step_ids
        assert all(len(step_id) <= 42 for step_id in recipe.step_ids)


def test_sessions_sorted_with_skipped_steps() -> None:
    tea = read_captaincook4d(FIXTURE).recipes["greentea"]
    assert tea.recording_ids == ("1_1", "1_2", "1_10")
    session = tea.session("1_2")
    # Annotated out of order and overlapping (boil ends at 50 s, steep starts at 48 s).
    assert session.step_order == TEA_IDS[:2] + TEA_IDS[3:4]
    assert [s.start for s in session.segments] == [5.0, 48.0, 205.0]
    assert session.skipped == ("add_1_tsp_honey_to_the_cup", "stir_the_cup_with_a_spoon_2")
    assert session.task == "green_tea"


def test_repeated_description_assigned_in_time_order() -> None:
    session = read_captaincook4d(FIXTURE).recipes["greentea"].session("1_1")
    assert session.step_order == (TEA_IDS[0], TEA_IDS[1], TEA_IDS[3], TEA_IDS[2], TEA_IDS[4])


def test_repeated_step_beyond_graph_nodes_is_a_repeat() -> None:
    toast = read_captaincook4d(FIXTURE).recipes["butteredtoast"].session("2_2")
    assert toast.step_order.count("cut_the_toast_in_half") == 2


def test_session_duration_from_video_information_or_margin() -> None:
    recipes = read_captaincook4d(FIXTURE).recipes
    assert recipes["greentea"].session("1_1").duration == 300.0
    assert recipes["greentea"].session("1_2").duration == pytest.approx(215.0 + 2.0)
    assert recipes["butteredtoast"].session("2_1").duration == 180.5


def test_description_variant_matched_through_step_id_with_warning() -> None:
    data = read_captaincook4d(FIXTURE)
    session = data.recipes["greentea"].session("1_10")
    assert session.step_order[1] == "add_1_tsp_honey_to_the_cup"
    assert any("1_10" in note and "step_id" in note for note in data.recipes["greentea"].warnings)


def test_error_steps_recorded() -> None:
    tea = read_captaincook4d(FIXTURE).recipes["greentea"]
    assert tea.error_steps == {
        "1_1": ("add_1_tsp_honey_to_the_cup",),
        "1_2": ("add_1_tsp_honey_to_the_cup",),
    }


def test_recording_without_task_graph_is_reported() -> None:
    data = read_captaincook4d(FIXTURE)
    assert data.unmatched_recordings == {"3_1": "Mystery Soup"}
    assert any("3_1" in note for note in data.warnings)
    with pytest.warns(CaptainCookWarning, match="1 CaptainCook4D recordings skipped"):
        load_captaincook4d(FIXTURE)


@pytest.mark.parametrize("name", ["greentea", "Green Tea", "green_tea"])
def test_recipe_filter_accepts_names(name: str) -> None:
    data = read_captaincook4d(FIXTURE, recipes=[name])
    assert list(data.recipes) == ["greentea"]
    assert data.unmatched_recordings == {}


def test_unknown_recipe_is_an_error() -> None:
    with pytest.raises(DataError, match=r"no task graph for recipe 'pizza'.*greentea"):
        read_captaincook4d(FIXTURE, recipes=["pizza"])


def test_unannotated_step_treated_as_skipped_with_warning(data_copy: Path) -> None:
    def drop_step(document: dict[str, Any]) -> None:
        document["2_1"]["steps"].pop(1)

    _edit_json(data_copy / "complete_step_annotations.json", drop_step)
    toast = read_captaincook4d(data_copy).recipes["butteredtoast"]
    assert toast.session("2_1").skipped == ("spread_butter_on_the_toast",)
    assert any("not annotated" in note for note in toast.warnings)


def test_exact_duplicate_annotation_ignored_with_warning(data_copy: Path) -> None:
    def duplicate(document: dict[str, Any]) -> None:
        document["2_1"]["steps"].append(dict(document["2_1"]["steps"][0]))

    _edit_json(data_copy / "complete_step_annotations.json", duplicate)
    toast = read_captaincook4d(data_copy).recipes["butteredtoast"]
    assert toast.session("2_1").step_order.count("toast_2_slices_of_bread") == 1
    assert any("duplicate" in note for note in toast.warnings)


def _set(key: str, value: Any) -> Callable[[Any], None]:
    def edit(document: dict[str, Any]) -> None:
        document["2_1"]["steps"][0][key] = value

    return edit


def _unknown_step(document: dict[str, Any]) -> None:
    document["2_1"]["steps"][0].update(step_id=99, description="Fry-Fry an egg")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (_set("end_time", 1.0), r"recording 2_1: step 1: expected 0 <= start <= end"),
        (_set("end_time", -1), r"recording 2_1: step 1: .*-1 must mark both"),
        (_set("start_time", "zero"), r"recording 2_1: step 0: expected integer step_id"),
        (
            _unknown_step,
            r"recording 2_1: step 99 'Fry-Fry an egg' matches no step of the task graph",
        ),
        (lambda d: d.update({"2_1": []}), r"recording 2_1: expected an object"),
        (lambda d: d["2_1"].pop("steps"), r"recording 2_1: expected 'steps' to be a list"),
    ],
    ids=[
        "end-before-start",
        "half-skipped",
        "non-numeric-time",
        "unknown-description",
        "record-not-object",
        "no-steps",
    ],
)
def test_bad_annotations(data_copy: Path, edit: Callable[[Any], None], match: str) -> None:
    _edit_json(data_copy / "complete_step_annotations.json", edit)
    with pytest.raises(DataError, match=r"complete_step_annotations\.json: " + match):
        read_captaincook4d(data_copy)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda g: g["edges"].append([3, 1]), r"cycle"),
        (lambda g: g["edges"].append([3, 9]), r"edge 5 \[3, 9\]: unknown node 9"),
        (lambda g: g["steps"].pop("4"), r"exactly one START and one END"),
        (lambda g: g.pop("edges"), r"'edges' to be a list"),
        (lambda g: g["steps"].update({"x": "Eat-Eat"}), r"step 'x': expected a numeric node id"),
    ],
    ids=["cycle", "unknown-node", "no-end", "no-edges", "bad-node-id"],
)
def test_bad_task_graph(data_copy: Path, edit: Callable[[Any], None], match: str) -> None:
    _edit_json(data_copy / "task_graphs" / "butteredtoast.json", edit)
    with pytest.raises(DataError, match=r"butteredtoast\.json: .*" + match):
        read_captaincook4d(data_copy, recipes=["butteredtoast"])


def test_missing_directory() -> None:
    with pytest.raises(DataError, match=r"nowhere: CaptainCook4D directory not found"):
        read_captaincook4d(Path("nowhere"))


def test_missing_annotations_file(data_copy: Path) -> None:
    (data_copy / "complete_step_annotations.json").unlink()
    with pytest.raises(DataError, match=r"complete_step_annotations\.json: file not found"):
        read_captaincook4d(data_copy)


def test_missing_task_graph_directory(data_copy: Path) -> None:
    shutil.rmtree(data_copy / "task_graphs")
    with pytest.raises(DataError, match=r"task_graphs: task-graph directory not found"):
        read_captaincook4d(data_copy)


def test_malformed_json_names_file_and_line(data_copy: Path) -> None:
    (data_copy / "complete_step_annotations.json").write_text('{\n  "1_1": {,\n}')
    with pytest.raises(DataError, match=r"complete_step_annotations\.json:2: malformed JSON"):
        read_captaincook4d(data_copy)


def test_bad_video_information(data_copy: Path) -> None:
    path = data_copy / "video_information.csv"
    path.write_text(path.read_text() + "2_2,1,2,2.0,long\n")
    with pytest.raises(
        DataError, match=r"video_information\.csv:4: duration\(sec\) must be a number"
    ):
        read_captaincook4d(data_copy)


def test_video_information_is_optional(data_copy: Path) -> None:
    (data_copy / "video_information.csv").unlink()
    toast = read_captaincook4d(data_copy).recipes["butteredtoast"]
    assert toast.session("2_1").duration == pytest.approx(171.0 + 2.0)


@pytest.mark.skipif(not REAL.is_dir(), reason="shared CaptainCook4D data not present")
def test_real_captaincook4d() -> None:
    data = read_captaincook4d(REAL)
    assert len(data.recipes) == 20
    assert data.unmatched_recordings == {}
    assert data.recipes["scrambledeggs"].procedure_id == "scrambled_eggs"
    total = 0
    for recipe in data.recipes.values():
        assert len(set(recipe.step_ids)) == len(recipe.step_ids)
        known = set(recipe.step_ids)
        for session in recipe.sessions:
            assert set(session.step_order) | set(session.skipped) <= known
            assert set(session.step_order) | set(session.skipped) == known
            assert all(a.start <= b.start for a, b in itertools.pairwise(session.segments))
            assert session.duration >= max((s.end for s in session.segments), default=0.0)
        total += len(recipe.sessions)
    assert total == 319


def _heap_order(nodes: list[int], edges: list[tuple[int, int]]) -> list[int]:
    """Kahn's algorithm with a heap of ready nodes: the order PrISM computed by hand
    before graphlib, kept as the reference for ties by number."""
    indegree = dict.fromkeys(nodes, 0)
    for _, after in edges:
        indegree[after] += 1
    ready = [node for node, degree in indegree.items() if degree == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for before, after in edges:
            if before == node:
                indegree[after] -= 1
                if indegree[after] == 0:
                    heapq.heappush(ready, after)
    return order


def test_topological_order_breaks_ties_by_number() -> None:
    # 1 and 4 are ready first; placing 1 makes 2 ready, which is smaller than 4.
    assert _topological_order(Path("g.json"), [1, 2, 4], [(1, 2)]) == (1, 2, 4)
    assert _topological_order(Path("g.json"), [3, 1, 2], [(3, 1), (3, 2)]) == (3, 1, 2)
    with pytest.raises(DataError, match=r"g\.json: the edges form a cycle \((\d -> ){2}\d\)"):
        _topological_order(Path("g.json"), [1, 2, 3], [(1, 2), (2, 1), (2, 3)])


PAIRS = st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), max_size=20)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 9), PAIRS)
def test_topological_order_equals_the_heap_order(
    n_nodes: int, pairs: list[tuple[int, int]]
) -> None:
    nodes = list(range(1, n_nodes + 1))
    # edges from a smaller to a larger position in a fixed shuffle: always acyclic
    rank = {node: (node * 7) % 11 for node in nodes}
    edges = []
    for a, b in pairs:
        before, after = nodes[a % n_nodes], nodes[b % n_nodes]
        if rank[before] < rank[after]:
            edges.append((before, after))
    assert list(_topological_order(Path("g.json"), nodes, edges)) == _heap_order(nodes, edges)


def test_learn_from_captaincook_uses_task_graph() -> None:
    recipe = read_captaincook4d(FIXTURE).recipes["greentea"]
    procedure = learn_from_captaincook(recipe)
    assert procedure.id == "green_tea"
    assert procedure.name == "Green Tea"
    assert procedure.step_ids == recipe.step_ids
    assert procedure.precedence == recipe.precedence
    assert procedure.step("stir_the_cup_with_a_spoon_2").name == "Stir the cup with a spoon (2)"
    assert "3 CaptainCook4D recordings" in procedure.source
    boil = procedure.step("boil_1_cup_of_water").duration
    assert boil.mean == pytest.approx((60 + 45 + 40) / 3, abs=1e-3)
    # Precedence from the graph: nothing goes back to boiling unless observed.
    assert (
        procedure.transitions["steep_the_tea_bag_for_3_minutes"].get("boil_1_cup_of_water", 0) == 0
    )


def test_learn_from_captaincook_excludes_recordings() -> None:
    recipe = read_captaincook4d(FIXTURE).recipes["greentea"]
    procedure = learn_from_captaincook(recipe, exclude=["1_1", "1_2"])
    assert procedure.step("boil_1_cup_of_water").duration.mean == 40.0
    assert "1 CaptainCook4D recordings" in procedure.source
    with pytest.raises(DataError, match=r"no recordings \['9_9'\] to exclude"):
        learn_from_captaincook(recipe, exclude=["9_9"])
    with pytest.raises(DataError, match=r"no recording left to learn from"):
        learn_from_captaincook(recipe, exclude=recipe.recording_ids)
