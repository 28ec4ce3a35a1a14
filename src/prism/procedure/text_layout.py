"""The layout of a procedure written as text: title, lists that are not steps, the steps.

People write procedures and recipes in a few layouts, and mix them:

- numbered steps ("1.", "1)", "(1)", "Step 1:"), bulleted steps ("-", "*", "•"), or one
  step per paragraph (blank-line separated); a section that is one block of lines that
  each end a sentence is one step per line, and a text that is one paragraph of several
  sentences is one step per sentence;
- lines that wrap continue their step; a line indented under a list item, or a bullet
  of another kind indented under a numbered step, belongs to that step; "Note:" and
  "Tip:" lines belong to the step above;
- an optional title (the first line when it is short, has no full stop and is set apart
  by a blank line, a heading or a list; "# Title" and "Title: ..." always are) and lines
  such as "Serves 2" or "Prep time: 10 min";
- headings (a short line ending with ":", a Markdown heading, or a known section word on
  its own line). "Ingredients", "Equipment", "You will need", "Notes" and the like open a
  list that is not steps; "Method", "Steps", "Instructions", "Directions" open the
  steps. Other headings ("For the sauce:") continue the kind of section they are in.
  When a text has a steps heading, the text before the first heading is an
  introduction. A list that is not steps ends at a blank line followed by a numbered
  item or by a line that starts with an instruction verb
  (:func:`prism.procedure.text_verbs.leading_verb`);
- a first block of short lines without verbs or full stops ("2 eggs", "1 cup flour")
  followed by steps is an unlabelled list of ingredients.

:func:`read_layout` is a pure function of the text and never fails: a text with no steps
gives a layout with none (the caller says what is wrong). Control characters are
dropped, tabs expanded and Unicode line separators are line breaks.

>>> layout = read_layout("Tea\\n\\nIngredients:\\n- 1 tea bag\\n\\nMethod:\\n1. Boil water.\\n"
...                      "2. Steep for\\n   3 minutes.")
>>> layout.title, [s.text for s in layout.steps], layout.lists[0].items
('Tea', ['Boil water.', 'Steep for 3 minutes.'], ('1 tea bag',))
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum

from prism.procedure.text_verbs import leading_verb
from prism.text import split_sentences

__all__ = ["ListSection", "StepText", "TextLayout", "read_layout"]


@dataclass(frozen=True)
class StepText:
    """The text of one written step.

    Parameters
    ----------
    text : str
        Its lines joined with single spaces, list marker removed.
    line : int
        1-based line of the text where it starts.
    """

    text: str
    line: int


@dataclass(frozen=True)
class ListSection:
    """A list that is not steps (ingredients, equipment).

    Parameters
    ----------
    heading : str or None
        Its heading as written, without the colon ("Ingredients"); None for an
        unlabelled list.
    items : tuple of str
        One entry per item or line.
    """

    heading: str | None
    items: tuple[str, ...]


@dataclass(frozen=True)
class TextLayout:
    """What a procedure text holds.

    Parameters
    ----------
    title : str or None
    steps : tuple of StepText
        The steps in the written order (may be empty).
    lists : tuple of ListSection
        Lists that are not steps, in the written order.
    notes : tuple of str
        Introduction paragraphs and lines such as "Serves 2".
    """

    title: str | None
    steps: tuple[StepText, ...]
    lists: tuple[ListSection, ...] = ()
    notes: tuple[str, ...] = ()


class _Kind(StrEnum):
    BLANK = "blank"
    HEADING = "heading"
    NUMBERED = "numbered"
    BULLET = "bullet"
    META = "meta"
    TEXT = "text"


class _Section(StrEnum):
    AUTO = "auto"  # before any heading: steps, or an introduction
    STEPS = "steps"
    OTHER = "other"  # ingredients, equipment, notes


@dataclass
class _Line:
    number: int
    indent: int
    kind: _Kind
    text: str  # without marker; the heading's text for a heading
    markdown: bool = False  # a "# heading"


@dataclass
class _Item:
    line: int
    indent: int
    marker: _Kind  # NUMBERED, BULLET or TEXT (a paragraph)
    parts: list[str] = field(default_factory=list)
    ends: list[bool] = field(default_factory=list)  # each part ends a sentence


_NUMBER_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
_NUMBERED = re.compile(
    rf"^(?:(?:step|stage)\s+(?:\d{{1,3}}|{_NUMBER_WORDS})\s*[:.)\-\u2013\u2014]?"
    r"|\(\d{1,3}\)|\d{1,3}[.):])(?=\s|$)\s*",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^(?:[-*•‣◦▪●\u2013\u2014+·]|\[[ xX]?\])(?=\s)\s*")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_COLON_HEADING = re.compile(r"^([^\W\d_][^:.!?]{0,40}?)\s*:\s*$")
_STEP_HEADINGS = re.compile(
    r"\b(?:method|steps?|instructions?|directions?|preparation|procedure|how to|to do|"
    r"to make|process|assembly|cooking|what to do)\b",
    re.IGNORECASE,
)
_OTHER_HEADINGS = re.compile(
    r"\b(?:ingredients?|equipment|need|tools?|materials?|supplies|utensils?|shopping|"
    r"notes?|tips?|variations?|storage|nutrition|kit|serves|makes|yield)\b",
    re.IGNORECASE,
)
_SECTION_WORDS = re.compile(
    r"^(?:ingredients|equipment|method|steps|instructions|directions|preparation|procedure|"
    r"notes|tips|you will need|you'll need|what you need|tools|materials|supplies)$",
    re.IGNORECASE,
)
_INLINE_HEADING = re.compile(
    r"^(ingredients|equipment|you will need|you'll need|what you need|tools|materials|"
    r"supplies|method|steps|instructions|directions)\s*:\s*(\S.*)$",
    re.IGNORECASE,
)
_TITLE_LINE = re.compile(r"^(?:title|recipe|procedure|name)\s*:\s*(\S.*)$", re.IGNORECASE)
_META = re.compile(
    r"^(?:(?:serves|makes|yields?)\s+\d|(?:serves|makes|yields?|prep(?:aration)? time|"
    r"cook(?:ing)? time|total time|active time|time|difficulty|source|author|servings|"
    r"portions)\s*:\s*\S)",
    re.IGNORECASE,
)
_ASIDE = re.compile(r"^(?:note|tip|hint|nb|n\.b\.)\s*[:\-\u2013]", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
_LETTER = re.compile(r"[^\W\d_]")


def _clean(line: str) -> str:
    """The line without control characters (tabs expanded) and trailing spaces."""
    line = line.expandtabs(4)
    return "".join(ch for ch in line if unicodedata.category(ch) != "Cc").rstrip()


def _heading_kind(heading: str) -> _Section | None:
    """The kind of section a heading opens (None: it continues the section it is in)."""
    if _STEP_HEADINGS.search(heading):
        return _Section.STEPS
    if _OTHER_HEADINGS.search(heading):
        return _Section.OTHER
    return None


def _classify(number: int, raw: str) -> list[_Line]:
    """The line as one or two classified lines (a heading with text after its colon is
    two)."""
    text = _clean(raw)
    stripped = text.lstrip()
    indent = len(text) - len(stripped)
    if not stripped:
        return [_Line(number, 0, _Kind.BLANK, "")]
    markdown = _MARKDOWN_HEADING.match(stripped)
    if markdown:
        return [_Line(number, indent, _Kind.HEADING, markdown.group(1), markdown=True)]
    inline = _INLINE_HEADING.match(stripped)
    if inline:
        heading = _Line(number, indent, _Kind.HEADING, inline.group(1))
        return [heading, *_classify_content(number, indent, inline.group(2))]
    return _classify_content(number, indent, stripped)


def _classify_content(number: int, indent: int, stripped: str) -> list[_Line]:
    numbered = _NUMBERED.match(stripped)
    if numbered:
        return [_Line(number, indent, _Kind.NUMBERED, stripped[numbered.end() :])]
    bullet = _BULLET.match(stripped)
    if bullet:
        return [_Line(number, indent, _Kind.BULLET, stripped[bullet.end() :])]
    colon = _COLON_HEADING.match(stripped)
    if colon and len(colon.group(1).split()) <= 6:
        return [_Line(number, indent, _Kind.HEADING, colon.group(1))]
    if _SECTION_WORDS.match(stripped):
        return [_Line(number, indent, _Kind.HEADING, stripped)]
    if _META.match(stripped):
        return [_Line(number, indent, _Kind.META, stripped)]
    return [_Line(number, indent, _Kind.TEXT, stripped)]


def _title(lines: list[_Line]) -> tuple[str | None, int]:
    """The title and the index of the first line after it (0 without a title)."""
    content = [i for i, line in enumerate(lines) if line.kind != _Kind.BLANK]
    if len(content) < 2:
        return None, 0
    first = lines[content[0]]
    if first.markdown and first.text and _heading_kind(first.text) is None:
        return first.text, content[0] + 1
    if first.kind == _Kind.TEXT:
        named = _TITLE_LINE.match(first.text)
        if named:
            return named.group(1).strip(), content[0] + 1
        after = lines[content[0] + 1]
        apart = after.kind in (_Kind.BLANK, _Kind.HEADING, _Kind.NUMBERED, _Kind.BULLET)
        short = len(first.text.split()) <= 12 and len(first.text) <= 80
        structured = any(
            line.kind in (_Kind.HEADING, _Kind.NUMBERED, _Kind.BULLET) for line in lines
        )
        instruction = leading_verb(first.text) is not None and not structured
        if apart and short and not re.search(r"[.!?;,:]$", first.text) and not instruction:
            return first.text, content[0] + 1
    return None, 0


def _sections(lines: list[_Line]) -> list[tuple[_Section, str | None, list[_Line]]]:
    """The lines cut at headings: (kind, heading, lines) in order; a list that is not
    steps ends where steps start without a heading."""
    sections: list[tuple[_Section, str | None, list[_Line]]] = [(_Section.AUTO, None, [])]
    for index, line in enumerate(lines):
        kind, _, current = sections[-1]
        if line.kind == _Kind.HEADING:
            opened = _heading_kind(line.text)
            sections.append((opened or kind, line.text, []))
            continue
        steps_start = line.kind == _Kind.NUMBERED or (
            line.kind in (_Kind.TEXT, _Kind.BULLET) and leading_verb(line.text) is not None
        )
        if (
            kind == _Section.OTHER
            and steps_start
            and index > 0
            and lines[index - 1].kind == _Kind.BLANK
        ):
            sections.append((_Section.STEPS, None, [line]))
            continue
        current.append(line)
    return [s for s in sections if any(line.kind != _Kind.BLANK for line in s[2])]


def _items(lines: list[_Line]) -> list[_Item]:
    """The items of a section: list items with their continuation lines, paragraphs."""
    items: list[_Item] = []
    markers = [line.kind for line in lines if line.kind in (_Kind.NUMBERED, _Kind.BULLET)]
    primary = markers[0] if markers else None
    blank_before = False
    for line in lines:
        if line.kind == _Kind.BLANK:
            blank_before = True
            continue
        current = items[-1] if items else None
        starts: _Kind = line.kind
        if line.kind in (_Kind.NUMBERED, _Kind.BULLET):
            continues = (
                current is not None
                and current.marker != _Kind.TEXT
                and line.kind != primary
                and line.indent > current.indent
            )
        else:
            continues = current is not None and (
                not blank_before
                or line.indent > current.indent
                or not current.parts
                or bool(_ASIDE.match(line.text))
            )
            starts = _Kind.TEXT
        if current is None or not continues:
            current = _Item(line.number, line.indent, starts)
            items.append(current)
        if line.text:
            current.parts.append(line.text)
            current.ends.append(bool(_SENTENCE_END.search(line.text)))
        blank_before = False
    return items


def _list_items(lines: list[_Line]) -> list[str]:
    """The items of a list that is not steps: one per list item or line; a line indented
    under an item, or after a line that ends with a comma, continues it."""
    items: list[list[str]] = []
    indent = 0
    for line in lines:
        if line.kind == _Kind.BLANK or not line.text:
            continue
        marked = line.kind in (_Kind.NUMBERED, _Kind.BULLET)
        if items and ((line.indent > indent and not marked) or items[-1][-1].endswith(",")):
            items[-1].append(line.text)
        else:
            items.append([line.text])
            indent = line.indent
    return [" ".join(" ".join(item).split()) for item in items]


def _paragraph_lines(item: _Item) -> list[_Item]:
    """A paragraph whose every line ends a sentence, as one item per line."""
    if item.marker != _Kind.TEXT or len(item.parts) < 2 or not all(item.ends):
        return [item]
    return [
        _Item(item.line + k, item.indent, _Kind.TEXT, [part], [True])
        for k, part in enumerate(item.parts)
    ]


def _text(item: _Item) -> str:
    return " ".join(" ".join(item.parts).split())


def _unlabelled_list(items: list[str]) -> bool:
    """Short lines without instruction verbs or full stops ("2 eggs", "salt")."""
    return len(items) >= 2 and all(
        leading_verb(item) is None and not _SENTENCE_END.search(item) and len(item.split()) <= 8
        for item in items
    )


def _blocks(lines: list[_Line]) -> list[list[_Line]]:
    blocks: list[list[_Line]] = [[]]
    for line in lines:
        if line.kind == _Kind.BLANK:
            blocks.append([])
        else:
            blocks[-1].append(line)
    return [block for block in blocks if block]


def read_layout(text: str) -> TextLayout:
    """Read the layout of a procedure written as text (see the module docstring).

    Parameters
    ----------
    text : str
        The whole text.

    Returns
    -------
    TextLayout
        Its steps may be empty (no line with words, only lists).
    """
    lines = [line for n, raw in enumerate(text.splitlines(), 1) for line in _classify(n, raw)]
    title, first = _title(lines)
    notes = [line.text for line in lines[first:] if line.kind == _Kind.META]
    body = [line for line in lines[first:] if line.kind != _Kind.META]
    sections = _sections(body)
    has_steps_heading = any(kind == _Section.STEPS and head for kind, head, _ in sections)
    lists: list[ListSection] = []
    steps: list[StepText] = []
    paragraph_steps = 0
    for kind, heading, section in sections:
        if kind == _Section.OTHER:
            items = [item for item in _list_items(section) if _LETTER.search(item)]
            lists += [ListSection(heading, tuple(items))] if items else []
            continue
        if kind == _Section.AUTO and has_steps_heading:  # an introduction
            notes += [_text(i) for i in _items(section) if _LETTER.search(_text(i))]
            continue
        blocks = _blocks(section)
        if len(blocks) > 1 and not steps and _unlabelled_list(_list_items(blocks[0])):
            lists.append(ListSection(None, tuple(_list_items(blocks[0]))))
            blocks = blocks[1:]
            section = [line for block in blocks for line in block]
        found = _items(section)
        if len(blocks) == 1:  # a block of lines that each end a sentence: one step each
            found = [piece for item in found for piece in _paragraph_lines(item)]
        for item in found:
            step = _text(item)
            if not _LETTER.search(step) or (step.endswith(":") and len(item.parts) == 1):
                continue
            steps.append(StepText(step, item.line))
            paragraph_steps += item.marker == _Kind.TEXT
    if len(steps) == 1 and paragraph_steps == 1:
        sentences = split_sentences(steps[0].text)
        if len(sentences) > 1:
            steps = [StepText(sentence, steps[0].line) for sentence in sentences]
    return TextLayout(title, tuple(steps), tuple(lists), tuple(notes))
