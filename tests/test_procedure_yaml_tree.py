"""Tests for prism.procedure.yaml_tree: YAML text -> plain data with every node's place."""

from __future__ import annotations

import doctest

import pytest
import yaml
from yaml.nodes import ScalarNode

import prism.procedure.yaml_tree as tree_module
from prism.procedure.issues import ProcedureFileError
from prism.procedure.yaml_tree import Tree, compose, describe, read_tree

TEXT = """\
id: tea
steps:
  - {id: boil, mean: '90'}
  - name: x
    name: y
? [a, b]
: 1
~: 2
"""


def tree_of(text: str) -> Tree:
    root = compose(text, filename="t.yaml")
    assert root is not None
    return read_tree(root)


def test_data_keeps_scalar_nodes_and_null_becomes_none() -> None:
    tree = tree_of("a: ~\nb: [1, '1']\n")
    assert tree.data["a"] is None
    one, quoted = tree.data["b"]
    assert isinstance(one, ScalarNode) and one.tag.endswith(":int") and one.value == "1"
    assert quoted.tag.endswith(":str") and quoted.style == "'"


def test_every_path_has_its_node() -> None:
    tree = tree_of(TEXT)
    mean = tree.node(("steps", 0, "mean"))
    assert (mean.start_mark.line + 1, mean.start_mark.column + 1) == (3, 22)
    key = tree.node(("steps", 0, "mean"), at_key=True)
    assert (key.start_mark.line + 1, key.start_mark.column + 1) == (3, 16)
    missing = tree.node(("steps", 0, "duration", "mean"))  # the nearest existing ancestor
    assert missing is tree.node(("steps", 0))
    assert tree.node(("nothing",), at_key=True) is tree.nodes[()][1]


def test_duplicate_keys_keep_the_first_and_bad_keys_are_left_out() -> None:
    tree = tree_of(TEXT)
    assert tree.data["steps"][1]["name"].value == "x"
    duplicate, listed, null = tree.key_problems
    assert duplicate.mapping == ("steps", 1)
    assert duplicate.first is not None and duplicate.first.start_mark.line == 3
    assert duplicate.key.start_mark.line == 4
    assert listed.mapping == () and listed.first is None and describe(listed.key) == "a list"
    assert describe(null.key) == "nothing (null)"
    assert set(tree.data) == {"id", "steps"}


def test_an_alias_to_itself_reads_as_none() -> None:
    tree = tree_of("a: &x [1, *x]\n")
    assert tree.data["a"][1] is None


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        pytest.param("a: {b: 1\n", 2, "YAML syntax error", id="syntax"),
        pytest.param("a: 1\x00\n", 1, r"U\+0000 is not allowed", id="nul"),
    ],
)
def test_compose_reports_yaml_errors_at_their_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ProcedureFileError, match=message) as info:
        compose(text, filename="t.yaml")
    (issue,) = info.value.issues
    assert (issue.file, issue.line) == ("t.yaml", line)


def test_describe() -> None:
    assert describe(yaml.compose("3")) == "the number 3"
    assert describe(yaml.compose("x" * 50)) == "the text '" + "x" * 37 + "...'"
    assert describe(yaml.compose("!!binary aGk=")).startswith("a value tagged")
    assert describe("a") == "the text 'a'"
    assert describe(True) == "the boolean true"
    assert describe(2.5) == "the number 2.5"


def test_docstring_examples() -> None:
    result = doctest.testmod(tree_module)
    assert result.attempted > 0
    assert result.failed == 0
