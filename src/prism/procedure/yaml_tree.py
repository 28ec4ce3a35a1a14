"""YAML text -> a plain tree that remembers where each value was written.

PyYAML's composer keeps line and column on every node but loses the written form of
scalars once it constructs Python values (``name: 2024`` becomes an int, ``"90"`` and
``90`` look alike) and silently keeps the last of two equal keys. :func:`read_tree` walks
the composed nodes once instead and gives

- the document as dicts (keys as text), lists and scalars, where each scalar stays a
  :class:`yaml.ScalarNode` (tag, written text and quoting), ``null`` becomes ``None``;
- the node at every path (``("steps", 2, "duration", "mean")``), for line and column;
- the keys that could not be kept: duplicates (the first one is kept) and keys that are
  not names (lists, mappings, null).

What the values must be is :mod:`prism.procedure.schema`'s business; what to say about a
problem, :mod:`prism.procedure.io`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from prism.procedure.checks import Where
from prism.procedure.issues import FileIssue, ProcedureFileError

__all__ = [
    "BOOL_TAG",
    "FLOAT_TAG",
    "INT_TAG",
    "NULL_TAG",
    "STR_TAG",
    "TEXT_TAGS",
    "KeyProblem",
    "Tree",
    "compose",
    "describe",
    "read_tree",
]

_TAG = "tag:yaml.org,2002:"
NULL_TAG, BOOL_TAG, INT_TAG, FLOAT_TAG, STR_TAG = (
    _TAG + t for t in ("null", "bool", "int", "float", "str")
)
TEXT_TAGS = frozenset({STR_TAG, INT_TAG, FLOAT_TAG, BOOL_TAG, _TAG + "timestamp"})
"""Scalars read as text in their written form (``name: 2024`` is the name "2024")."""


def compose(text: str, *, filename: str) -> Node | None:
    """The YAML node tree of ``text`` (None for an empty document).

    Raises
    ------
    ProcedureFileError
        For a YAML syntax error or a character YAML does not allow, at its line.
    """
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = None if mark is None else mark.line + 1
        column = None if mark is None else mark.column + 1
        issue = FileIssue(filename, line, column, _syntax_message(error))
    except yaml.YAMLError as error:  # ReaderError: a character YAML does not allow
        issue = _reader_issue(text, error, filename)
    raise ProcedureFileError([issue]) from None


def _syntax_message(error: yaml.MarkedYAMLError) -> str:
    problem = error.problem or "invalid YAML"
    context = error.context or ""
    if error.context_mark is not None and error.context_mark is not error.problem_mark:
        context += f" (line {error.context_mark.line + 1})"
    if context.startswith("while"):  # "while parsing a flow mapping": the problem comes first
        return f"YAML syntax error: {problem}, {context}"
    return (
        f"YAML syntax error: {context}, {problem}" if context else f"YAML syntax error: {problem}"
    )


def _reader_issue(text: str, error: yaml.YAMLError, filename: str) -> FileIssue:
    position = getattr(error, "position", None)
    character = getattr(error, "character", None)
    if isinstance(position, int) and isinstance(character, str | int):
        code = ord(character) if isinstance(character, str) else character
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        message = f"character U+{code:04X} is not allowed in YAML (binary data?)"
        return FileIssue(filename, line, column, message)
    return FileIssue(filename, None, None, f"invalid YAML: {error}")


def describe(value: Any) -> str:
    """Say what a value of the tree is, for "expected X, got Y" messages.

    >>> describe(None), describe([]), describe({})
    ('nothing (null)', 'a list', 'a mapping')
    >>> describe(yaml.compose("'90'")), describe(yaml.compose("yes"))
    ("the text '90'", 'the boolean yes')
    """
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict | MappingNode):
        return "a mapping"
    if isinstance(value, list | SequenceNode):
        return "a list"
    if isinstance(value, ScalarNode):
        tag, text = value.tag, str(value.value)
    elif isinstance(value, bool):  # plain Python values, as YAML would tag them
        tag, text = BOOL_TAG, str(value).lower()
    elif isinstance(value, int | float):
        tag, text = FLOAT_TAG, str(value)
    elif isinstance(value, str):
        tag, text = STR_TAG, value
    else:
        return f"the value {value!r}"
    if tag == NULL_TAG:
        return "nothing (null)"
    shown = text if len(text) <= 40 else text[:37] + "..."
    if tag == BOOL_TAG:
        return f"the boolean {shown}"
    if tag in (INT_TAG, FLOAT_TAG):
        return f"the number {shown}"
    if tag == STR_TAG:
        return f"the text {shown!r}"
    return f"a value tagged {tag} ({shown!r})"


@dataclass(frozen=True)
class KeyProblem:
    """A mapping key the tree leaves out.

    ``first`` is the key node kept for a duplicate, None for a key that is not a name.
    """

    mapping: Where
    key: Node
    first: ScalarNode | None


@dataclass
class Tree:
    """A YAML document as plain data, with the node of every path.

    Attributes
    ----------
    data : dict, list, yaml.ScalarNode or None
        The document.
    nodes : dict
        Path -> (key node or None, value node); ``()`` is the root.
    key_problems : list of KeyProblem
        Duplicate keys and keys that are not names, in document order.
    """

    data: Any
    nodes: dict[Where, tuple[Node | None, Node]] = field(default_factory=dict)
    key_problems: list[KeyProblem] = field(default_factory=list)

    def node(self, where: Where, *, at_key: bool = False) -> Node:
        """The node at ``where`` (its key's with ``at_key``), else its nearest ancestor's."""
        for end in range(len(where), 0, -1):
            if where[:end] in self.nodes:
                key, value = self.nodes[where[:end]]
                return key if at_key and key is not None and end == len(where) else value
        return self.nodes[()][1]


def read_tree(root: Node) -> Tree:
    """The plain tree of a composed document (see the module docstring).

    A node that contains itself through an alias (``&a [*a]``) is read as None there.
    """
    tree = Tree(None)
    tree.nodes[()] = (None, root)
    tree.data = _value(root, (), tree, set())
    return tree


def _value(node: Node, where: Where, tree: Tree, open_nodes: set[int]) -> Any:
    if isinstance(node, ScalarNode):
        return None if node.tag == NULL_TAG else node
    if id(node) in open_nodes:
        return None
    open_nodes.add(id(node))
    try:
        if isinstance(node, SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                tree.nodes[(*where, index)] = (None, item)
                items.append(_value(item, (*where, index), tree, open_nodes))
            return items
        entries: dict[str, Any] = {}
        firsts: dict[str, ScalarNode] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == NULL_TAG:
                tree.key_problems.append(KeyProblem(where, key_node, None))
                continue
            key = str(key_node.value)
            if key in firsts:
                tree.key_problems.append(KeyProblem(where, key_node, firsts[key]))
                continue
            firsts[key] = key_node
            tree.nodes[(*where, key)] = (key_node, value_node)
            entries[key] = _value(value_node, (*where, key), tree, open_nodes)
        return entries
    finally:
        open_nodes.discard(id(node))
