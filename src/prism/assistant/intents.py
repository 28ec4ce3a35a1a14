"""Question understanding: what an utterance asks (or tells), and about which step.

Rules over the normalised text, in a fixed order (the first that fits wins), plus step
resolution with :func:`prism.assistant.mentions.rank_steps`. A question the rules leave
to the procedure's text (or find off topic) that is very similar to example questions of
another kind (:func:`prism.assistant.intent_examples.similar_intent`: "which steps are
behind me?" to "which ones are behind me") takes that kind. Utterances that are not
for the assistant ("ouch, this is hot", "honey, can you pass the salt") get
:attr:`IntentKind.NONE`: no answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

from prism.assistant.intent_examples import similar_intent
from prism.assistant.mentions import StepMatch, rank_steps
from prism.assistant.retrieval import passage_index, retrieval_words
from prism.procedure.model import Procedure
from prism.text import normalise

__all__ = [
    "Intent",
    "IntentKind",
    "StepCommand",
    "choice_options",
    "step_command",
    "step_number",
    "understand",
]


class IntentKind(StrEnum):
    """What an utterance is about."""

    CURRENT = "current"
    NEXT = "next"
    DID_I = "did_i"
    JUST_FINISHED = "just_finished"
    MISSED = "missed"
    STEPS_LEFT = "steps_left"
    TIME_LEFT = "time_left"
    STEP_DURATION = "step_duration"
    HOW_TO = "how_to"
    PURPOSE = "purpose"
    HISTORY = "history"
    """Which steps are done (their names)."""
    REMAINING = "remaining"
    """Which steps are left (their names; :attr:`STEPS_LEFT` counts them)."""
    FIRST = "first"
    """The procedure's first step."""
    ALL_STEPS = "all_steps"
    """The procedure's steps in their usual order."""
    STEP_NUMBER = "step_number"
    """The procedure's n-th step ("what's step three?")."""
    WHICH_FIRST = "which_first"
    """Which of two steps comes first ("the jelly or the nut butter first?")."""
    LAST = "last"
    """The procedure's last step."""
    STEPS_DONE = "steps_done"
    """How many steps are done."""
    STEPS_TOTAL = "steps_total"
    """How many steps the procedure has."""
    BEFORE = "before"
    """The step that comes before a named step."""
    SKIP = "skip"
    """Whether a step may be left out, and why not."""
    TROUBLE = "trouble"
    """Something goes wrong ("what if it keeps bleeding?"): what the procedure says to do."""
    REPEAT = "repeat"
    CORRECT_DONE = "correct_done"
    CORRECT_AT = "correct_at"
    CORRECT_NOT_DONE = "correct_not_done"
    OTHER = "other"
    """About the task but none of the above ("how full should the jug be?"): answered
    from the procedure's sentences."""
    OUT_OF_SCOPE = "out_of_scope"
    """A question for the assistant about something else ("who won the game?"): declined."""
    NONE = "none"
    """Not for the assistant: no answer."""


@dataclass(frozen=True)
class Intent:
    """An understood utterance: its kind and the steps it names (best first)."""

    kind: IntentKind
    steps: tuple[StepMatch, ...] = ()
    yes_no: bool = False
    """A yes/no question ("am I almost done?"): the answer starts with yes or no."""
    asks_required: bool = False
    """A skip question asked the other way round ("do I have to ...?", "is it
    necessary?"): yes means the step is required, not that it may be skipped."""
    text: str = ""
    """The utterance, normalised (what retrieval searches the procedure's text for)."""
    asked: bool = True
    """False for a statement ("the oil is spitting"): answered only if the procedure
    clearly has advice for it, else not at all."""

    @property
    def step(self) -> str | None:
        """The step it most probably names (``None``: none named)."""
        return self.steps[0].step if self.steps else None


def _has(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


_QUESTION_START = (
    r"^(?:(?:ok(?:ay)?|so|um+|uh+|hey|and|well|wait|alright|right|now|then|hmm+|oh)[ ,]+)*"
    r"(?:what|which|where|when|why|how|who|did|do|does|have|has|had|am|is|are|was|were|"
    r"should|shall|can|could|would|will|tell|remind|show|explain|walk|give|any|anything|"
    r"next|help|status|remaining|anything else|say|repeat|sorry|pardon|come again|list|name|"
    r"go over|run through|recap|summari[sz]e)\b|"
    r"^\w+(?: \w+)? or \w+(?: \w+)?(?: for| in| on| with|\?|$)"  # "cold or warm milk?"
)
_VOCATIVE = r"(?:honey|babe|baby|sweetie|darling|mom|mum|dad|kids?|guys|buddy|dude)"
_ADDRESSED_ELSEWHERE = (
    rf"^(?:(?:hey|oh|ok|okay|so)[ ,]+)?{_VOCATIVE}\b|[,;] {_VOCATIVE}\s*[?.!]*$|"
    r"\b(?:can you pass|could you pass|pass me|hand me|can you grab|could you grab)\b|"
    r"^(?:hey|hi|yo|excuse me) (?!prism\b|watch\b|assistant\b)[a-z]+ ?,"
)
"""Talk to someone else: a name or endearment first or last ("honey, ...", "..., sweetie?"),
or a request to pass or grab something."""
_YES_NO = (
    r"^(?:(?:ok(?:ay)?|so|um+|uh+|hey|and|well|wait|alright|right)[ ,]+)*"
    r"(?:am|is|are|was|were|did|do|does|have|has|had|can|will|should)\b|"
    r"^(?:almost|nearly|close to) (?:done|finished|there)"
)
_QUESTION_ANYWHERE = (
    r"\b(?:what|which|where|when|why|how)\b (?:is|are|do|does|did|should|comes?|now|next|"
    r"am|was|were|can|to|long|much|many|else|have|has)\b|"
    r"\b(?:what|which|how) \w+ (?:do|does|did|should|shall|can|could|would|will|is|are|"
    r"must|need|needs)\b"  # "at what point do I ...", "how deep does it go"
)
_NOT_DONE = r"\b(?:have not|did not|not yet|has not|never)\b"
_DONE_STATEMENT = (
    r"^(?:(?:ok(?:ay)?|so|well|alright|yes|yeah|right|um+|oh)[ ,]+)*"
    r"(?:i (?:have )?(?:already |just |now )*(?:\w+ed|did|done|finished|put|ground|made|cut|"
    r"took|poured|got|gave|ran|set|spread|brought)\b|(?:i am |i'm )?(?:all )?done with\b|"
    r"(?:i )?finished\b|the .* is (?:done|finished|ready)\b)"
)
_AT_STATEMENT = (
    r"^(?:(?:ok(?:ay)?|so|well|alright|now|right|um+)[ ,]+)*"
    r"(?:i am (?:now |currently |just |still )*(?:\w+ing|doing|on|at|starting|about to)\b|"
    r"(?:now |currently )(?:i am )?\w+ing\b|starting\b|moving on to\b)"
)

_SKIP = (
    r"\b(?:can|could|may|might|shall|should) (?:i|we|you) (?:just |maybe |safely |please |also )?"
    r"(?:skip|leave out|leave (?:it|that|this|them|\w+) out|omit|not (?:do|bother)|go without|"
    r"do without|pass on|forget about|ignore|drop|cut out|get away without)\b|"
    r"\b(?:am i|are we|is it) (?:allowed|ok|okay|fine) to (?:skip|leave|omit|not|go without)\b|"
    r"\b(?:is it|is that|would it be|will it be|would that be|it is)\b (?:ok|okay|fine|alright|"
    r"all right|safe|a problem|bad|allowed|necessary|required|important)\b(?: \w+){0,4}? "
    r"(?:skip\w*|not|without|leave out|omit\w*|miss out|pass on)\b|"
    r"\b(?:skip\w*|leaving out|omitting|not doing)\b.*\b(?:ok|okay|fine|alright|all right|"
    r"a problem|bad|allowed)\??$|"
    r"(?:^|[,;:] )(?:(?:so|and|ok|okay|um+|uh+|well|wait|hmm+|but)[ ,]+)*(?:do|must) (?:i|we) "
    r"(?:really |"
    r"actually |even |absolutely |still |definitely )?(?:need to|have to|got to|need|must)\b|"
    r"(?:^|[,;:] )(?:(?:so|and|ok|okay|um+|uh+|well|wait|hmm+|but)[ ,]+)*am i "
    r"(?:required|supposed|obliged) "
    r"to\b|\bis it (?:a )?must\b|"
    r"\b(?:is|are) (?:it|this|that|they|this step|that step|the \w+(?: \w+)?|\w+ing(?: the \w+)?) "
    r"(?:really |actually |strictly |absolutely |even )?(?:necessary|optional|required|needed|"
    r"mandatory|essential|important|a must|skippable)\b|"
    r"\bwhat (?:if|happens if|would happen if|happens when) (?:i|we) (?:skip|do not|did not|"
    r"leave|forget|omit|miss|never)\b|\b(?:skippable|optional)\b"
)
"""Asks whether a step may be left out ("can I skip purging the wand?", "do I have to
wear gloves?", "is the ointment necessary?")."""

_TROUBLE_STATEMENT = (
    r"\b(?:is|are|keeps?|kept|started|starting|starts?|begins?|began) (?:\w+ )?\w+ing\b|"
    r"\bstill\b|\bstuck\b|\btoo \w+|\bgetting (?:really |very |too |so |quite )?\w+|"
    r"\b(?:gone|turned|turning) \w+|\b(?:will|does|did|is|are|can) not\b|"
    r"\bthere(?:'s| is| are) (?:still |some |big |lots of |a lot of )?\w+"
)
"""A statement that reports a problem as it happens ("the oil is spitting", "it is still
bleeding", "the jug is getting really hot"): answered only when the procedure's text has
advice that clearly matches (:class:`~prism.assistant.grounded.GroundingConfig`)."""

_TROUBLE = (
    r"^(?=.*\b(?:what (?:do|should|can|shall) (?:i|we) do|what now|help)\b)"
    rf".*(?:{_TROUBLE_STATEMENT})|"
    r"\bwhat (?:is|went|goes) wrong\b|\bwhat (?:is going on|happened)\b|"
    r"\bwhat (?:if|happens if|should i do if|do i do if|do i do when|should i do when|now if)\b|"
    r"\b(?:keeps?|kept) \w+ing\b|\bstill \w+(?:s|ing)\b|\b(?:will|does|did|is|are|can) not "
    r"(?:\w+ing|stop|work|come|start|go|fit|stick|close|open|turn|foam|melt|set|rise|dry)\b|"
    r"\btoo (?:hot|cold|much|little|long|thick|thin|runny|dry|wet|tight|loose|strong|weak|"
    r"fast|slow|big|small|warm)\b|\b(?:stuck|sticks|sticking|went wrong|goes wrong|go wrong|"
    r"mistake|by accident|accidentally|spill\w*|burn\w*|broke\w*|torn|overflow\w*|leak\w*)\b"
)
"""Something goes wrong ("what if it keeps bleeding?", "the dressing is stuck, what now?")."""

_ERRAND = (
    r"\b(?:set|start) (?:a |an |the |me a )?(?:timer|alarm)\b|\bremind me to\b|"
    r"^(?:(?:hey|hi|ok|okay|so|um+|uh+|and|also|oh)[ ,]+)*(?:can|could|would|will) you "
    r"(?:please |just |maybe |quickly )?(?:order|buy|purchase|get me|call|phone|ring|text|"
    r"email|message|play|book|reserve|translate|search|google|look up|turn (?:on|off)|"
    r"switch (?:on|off)|sing|tell me a joke)\b|"
    r"\bhow do (?:you|i|we) say\b.*\bin [a-z]+$|\btranslate\b"
)
"""Errands for a general assistant ("can you order more beans online?", "how do you say
pizza in Japanese?"): declined, whatever words of the task they use."""

_ANY_STEP = (
    r"\b(?:anything|something|nothing|a step|any steps?|a thing|one|stuff|things|some steps?)\b"
)
"""No step in particular ("did I forget anything on this box?")."""


_ORDINALS = {
    "one": 1, "first": 1, "two": 2, "second": 2, "three": 3, "third": 3, "four": 4,
    "fourth": 4, "five": 5, "fifth": 5, "six": 6, "sixth": 6, "seven": 7, "seventh": 7,
    "eight": 8, "eighth": 8, "nine": 9, "ninth": 9, "ten": 10, "tenth": 10,
}  # fmt: skip
_STEP_NUMBER = (
    r"\bstep (?:number )?(?P<n>\d+|" + "|".join(_ORDINALS) + r")\b(?! steps?\b)|"
    r"\b(?P<m>" + "|".join(o for o in _ORDINALS if o.endswith(("nd", "rd", "th"))) + r") step\b"
)


StepCommand = Literal["done", "skip"]

_STEP_COMMAND = re.compile(
    r"^(?:(?:ok(?:ay)?|right|alright|so|and|um+|uh+|now|yes|yeah|good|great)[ ,]+)*"
    r"(?:(?P<done>next(?: (?:step|one|please))?|(?:i am |i'm )?(?:all )?(?:done|finished)"
    r"(?: (?:with )?(?:this|that|it|this step|that step|here))?|that is done|this is done|"
    r"that's done|go on|move on|continue)|"
    r"(?P<skip>skip(?: (?:this|that|it|this one|that one|this step|that step))?(?: please)?))"
    r"[.!]*$"
)


def step_command(utterance: str) -> StepCommand | None:
    """A bare command to move on, in guided mode: ``"done"`` ("next", "done", "I'm
    finished with this") or ``"skip"`` ("skip that"); ``None`` for anything else (a
    question about the next step is a question).

    >>> step_command("ok, next"), step_command("skip that"), step_command("what's next?")
    ('done', 'skip', None)
    """
    found = _STEP_COMMAND.match(normalise(utterance))
    if found is None:
        return None
    return "skip" if found.group("skip") else "done"


def step_number(text: str) -> int | None:
    """The step number a question asks about ("what's step three?", "the fifth step"),
    1-based; ``None`` if it names none.

    >>> step_number("what's step three"), step_number("what is the 2 step")
    (3, None)
    """
    found = re.search(_STEP_NUMBER, normalise(text))
    if found is None:
        return None
    raw = found.group("n") or found.group("m")
    return int(raw) if raw.isdigit() else _ORDINALS[raw]


_RULES: tuple[tuple[IntentKind, str], ...] = (
    (
        IntentKind.REPEAT,
        r"^(?:(?:sorry|pardon|what)[ ,]+)*(?:can you |could you |please )?"
        r"(?:repeat|say (?:that|it) again|come again|what was that|what did you say)\b",
    ),
    (IntentKind.SKIP, _SKIP),
    (
        IntentKind.HISTORY,
        r"\bwhat (?:steps )?(?:have|did) (?:i|we) (?:already )?(?:got |gotten )?(?:done|do|did|"
        r"finished|completed|"
        r"got through|gotten through)\b(?! (?:just|last|before|right|wrong|first)\b)|"
        r"\b(?:what|which steps?|the steps?|everything|all) (?:i|we) (?:have |had )?(?:already )?"
        r"(?:done|did|finished|completed|got through|gotten through)\b(?! last\b)|"
        r"\bwhich (?:steps? )?(?:have i|did i|are|i have|i did|have been) (?:already )?"
        r"(?:done|finished|completed)\b|"
        r"\b(?:list|name|recap|summari[sz]e) (?:the |all |every )?(?:steps? )?(?:(?:that )?"
        r"(?:are |i have |have been )?(?:done|finished|completed))\b|"
        r"\bwhat (?:steps )?(?:is|are|have been) (?:done|finished|completed)(?: so far| already)?"
        r"\s*\??$",
    ),
    (IntentKind.OUT_OF_SCOPE, _ERRAND),
    # where a thing is (lost, put away): not in the procedure; where a thing goes is
    (IntentKind.NONE, r"^where (?:is|are|did|has|have|was|were) (?!i at\b|we at\b)"),
    (
        IntentKind.MISSED,
        r"\b(?:miss(?:ed|ing)?|forg[oe]t\w*|skip(?:ped)?|overlook\w*|"
        r"(?:leave|left) (?:\w+ )?out)\b|"
        r"\b(?:anything|something|any steps?)\b.*\b(?:have not|did not|not yet) (?:done|do)\b",
    ),
    (
        IntentKind.STEPS_TOTAL,
        r"\bhow many steps?\b.*\b(?:in total|total|altogether|overall|all together|in all|"
        r"does (?:it|this|this \w+|the \w+) have|are there in|"
        r"in (?:this|the) (?:recipe|task|procedure))\b|"
        r"\bhow (?:long|big) is (?:this|the) (?:recipe|task|procedure)\b(?! \w+ing)",
    ),
    (
        IntentKind.STEPS_DONE,
        r"\bhow many\b(?!.*\b(?:left|remain\w*|to go|more|until|till|before|after|to finish|"
        r"ahead)\b).*\b(?:done|finished|completed|complete|behind|did i|have i|so far|already|"
        r"through|i did|i have|under my belt)\b",
    ),
    (IntentKind.WHICH_FIRST, r"\b(?:first|before|earlier|sooner)\b.*\bor\b|\bor\b.*\bfirst\b"),
    (
        IntentKind.FIRST,
        r"\b(?:what|which) is the (?:very )?first (?:step|thing|one)\b|"
        r"\bwhat (?:do|should) (?:i|we|you) (?:do )?first\b|\bhow do (?:i|we) (?:start|begin)\b|"
        r"\bwhere do (?:i|we) (?:start|begin)\b|\bwhat do (?:i|we) (?:start|begin) with\b",
    ),
    (IntentKind.STEP_NUMBER, _STEP_NUMBER),
    (
        IntentKind.ALL_STEPS,
        r"\bwhat is the (?:order|sequence) of (?:the )?(?:steps|things|operations)\b|"
        r"\b(?:list|name|tell me|go through|read out) (?:all )?(?:the |all the )?"
        r"(?:steps|operations)(?! (?:i|we|that|left|remaining|done|to))\b|"
        r"\bwhat (?:are|were) (?:all )?the steps\s*(?:again|of (?:this|the) \w+)?\s*\??$|"
        r"\bwhat steps are there\b",
    ),
    (
        IntentKind.LAST,
        r"\b(?:what|which) is the (?:very )?(?:last|final) (?:step|thing|one)\b"
        r"(?! (?:i|we) (?:did|finished|completed|have done)\b)(?!.*\b(?:did|finished|done)\b)|"
        r"\bwhat is the (?:very )?(?:last|final) thing (?:i|we) "
        r"(?:do|will do|have to do|need to)\b|"
        r"\b(?:what|which) (?:step )?(?:is|comes) (?:at the end|last)\b|"
        r"\bhow does (?:it|this|the \w+) end\b|\bfinal step\b",
    ),
    (
        IntentKind.BEFORE,
        r"\b(?:what|which|when)\b.*\b(?:comes?|came|goes|is|do|does|should|step|happens|done)\b.*"
        r"\b(?:before|prior to|ahead of)\b(?! (?:this|that|it|now|the current)\b)|"
        r"\bprecede\w*\b|\bleads? (?:up )?to\b|"
        r"^(?:(?:so|and|ok|okay|um+|uh+)[ ,]+)*when (?:do|should|can|shall|must) (?:i|we) "
        r"(?!stop\b|finish\w*\b|know\b|start\b|take (?:it|them) (?:out|off)\b)",
    ),
    (
        IntentKind.JUST_FINISHED,
        r"\b(?:just (?:did|do|done|finish\w*|complet\w*)|last (?:step|thing|one)|previous|"
        r"step before|(?:finish\w*|complet\w*|did|do|done) (?:\w+ )?last\b|most recent|"
        r"(?:before|prior to) (?:this|that|now|it|the current)\b|just now\b|"
        r"what (?:did|have) i (?:just )?(?:do|did|done|finish\w*|complet\w*)\b(?! \w+ \w+)|"
        r"what was i (?:just )?doing|what did i just)",
    ),
    (
        IntentKind.TIME_LEFT,
        r"(?:how (?:long|much time|much longer|many minutes)|when)\b.*\b(?:left|remaining|"
        r"to go|until (?:i am |i'm |we are |it is )?(?:done|finished|finish|through)|"
        r"(?:be|am i) (?:done|finished|through)|whole (?:thing|task)|everything|"
        r"the rest|finish)|how much longer|"
        r"how long (?:till|until|before) .*\b(?:ready|done|finished|over)\b",
    ),
    (
        IntentKind.STEPS_LEFT,
        r"\bhow many (?:more |other )?(?:steps?|things|left|to go|are left)\b|"
        r"\bhow many more\b(?! \w+ (?:do|of|should|go)\b)|"
        r"\b(?:almost|nearly|close to|about) (?:done|finished|there|through)|"
        r"\b(?:steps?|much|lot) (?:left|remaining|to go)\b|\bam i (?:done|finished)\b|"
        r"\bhow far (?:along|in|into|through|off|am i|are we|have i|have we|is it|to go)\b|"
        r"\bhow far\s*\??$|\bhow much is (?:still )?(?:left|remaining)\b|"
        r"\bhow many \w+ (?:are |is )?(?:still )?(?:left|remaining|to go)\b",
    ),
    (
        IntentKind.REMAINING,
        r"\bwhat (?:is|are)(?: still)? (?:left|remaining|still left)\b|\bwhat remains\b|"
        r"\b(?:left|remain\w*) to (?:do|go)\b|\bwhat else\b|\banything else\b|"
        r"\b(?:what|which) (?:steps?|things|operations) (?:are |is )?(?:still )?(?:left|remaining|"
        r"to do|to go)\b|"
        r"\bwhat (?:do|should|must) (?:i|we) still\b|\b(?:what|which) (?:steps? )?(?:are|is) "
        r"(?:still )?(?:ahead|to come|coming up)\b|\bwhich steps? (?:are )?(?:left|remain\w*)\b|"
        r"\b(?:list|name) (?:the |all )?(?:steps? )?(?:left|remaining|to go)\b|"
        r"\bwhat (?:do|should) (?:i|we) still (?:have|need|got) to do\b",
    ),
    (IntentKind.TROUBLE, _TROUBLE),
    (
        IntentKind.PURPOSE,
        r"\bwhy\b|\bwhat (?:is|are) (?:.+ )?for\b|\bpurpose\b|\bpoint of\b|"
        r"\bwhat does .+ do\b|\bwhat good is\b|\b(?:any|some|a few|a|give me a) tips?\b|"
        r"\btips? (?:for|on|about)\b|\bcareful\b|\bwatch out\b|"
        r"\bpay attention\b|\bwhat matters\b|\bimportant\b",
    ),
    (
        IntentKind.STEP_DURATION,
        r"\bhow long\b|\bhow many (?:seconds|minutes)\b|\bfor how long\b|\bhow much time\b|"
        r"\bwhen (?:do|should) i stop\b",
    ),
    (
        IntentKind.HOW_TO,
        r"\bhow (?:do|should|can|would|shall) (?:i|you|we)\b|\bhow to\b|\bhow is .+ done\b|"
        r"\b(?:show|tell|explain|walk)(?: me)? how\b|\bwhat is the (?:way|trick)\b|"
        r"\binstructions?\b|\bhow does (?:this|that|it) work\b|\bhow (?:much|many) \w+|"
        r"\bwhat (?:do|should) i \w+ (?:it |this |that |the \w+ )?(?:with|on|in)\b|"
        r"\bwhat (?:setting|temperature|power|heat)\b|\bwhat do i do\b.*\b(?:if|when)\b|"
        r"\b(?:keeps?|still) \w+ing\b.*\bwhat do i do\b",
    ),
    (
        IntentKind.NEXT,
        r"\bnext\b|\bafter (?:this|that|it|the|i)\b|\bthen what\b|\bwhat now\b|"
        r"^(?:(?:and|so|ok|okay)[ ,]+)*(?:then|now|after that)\??$|\bwhat is first\b|"
        r"^(?:and |so )?after\b.*\?$|\bafter \w+ing\b|"
        r"\bwhere do i start\b|\bwhat do i start with\b|"
        r"\bnow what\b|\bwhat (?:do|should|shall|can) i do\b|\bwhat comes\b|\bwhat follows\b|"
        r"\bwhere do i go\b|\bwhat is up\b|\bmove on\b|\bwhat should i be doing\b|"
        r"\bwhat do i (?:need|have|got) to do\b|\b(?:is|comes?|goes) after\b",
    ),
    (
        IntentKind.CURRENT,
        r"\bwhere am i\b|\bwhat am i (?:doing|on|at)\b|\b(?:which|what) step\b|"
        r"\bcurrent step\b|\bwhat (?:is|are) (?:this|the current)\b|\bwhere are we\b|"
        r"\bwhat am i supposed to be doing\b|\bam i (?:on|at|doing)\b",
    ),
    (
        IntentKind.DID_I,
        r"\b(?:did|have|had) (?:i|we)\b|\b(?:is|was|has|are|were) (?:the )?.+ "
        r"(?:done|finished|already|yet|in)\b|\balready\b|\byet\b",
    ),
)


def _statement(text: str, procedure: Procedure) -> Intent | None:
    """A dialogue correction ("I already poured the milk"), if the text is one."""
    if text.endswith("?") or _has(_QUESTION_START, text):
        return None
    steps = tuple(rank_steps(text, procedure))
    if not steps:
        return None
    if _has(_NOT_DONE, text):
        return Intent(IntentKind.CORRECT_NOT_DONE, steps)
    if _has(_DONE_STATEMENT, text):
        return Intent(IntentKind.CORRECT_DONE, steps)
    if _has(_AT_STATEMENT, text):
        return Intent(IntentKind.CORRECT_AT, steps)
    return None


_CHOICE = re.compile(
    r"^(?:(?:which|what) (?:\w+ )*?(?:first|before|earlier|sooner)[,:]? |"
    r"(?:\w+ )*?(?:do|should|shall|can|must|would) (?:i|we) )?"
    r"(?P<a>[a-z][\w' ]*?) or (?P<b>[a-z][\w' ]*?)"
    r"(?: (?:first|before|earlier|sooner))?\s*\??$"
)


def choice_options(text: str) -> tuple[str, str] | None:
    """The two options of a which-first question, as said, from its last clause (``None``
    if there are not two).

    >>> choice_options("which goes on first, the jelly or the nut butter")
    ('the jelly', 'the nut butter')
    """
    clause = re.split(r"[,;:] ", normalise(text))[-1]
    found = _CHOICE.match(clause) or _CHOICE.match(normalise(text))
    return (found.group("a"), found.group("b")) if found else None


_ASKS_REQUIRED = (
    r"\b(?:need|needs|have to|has to|got to|must|required|supposed|obliged|necessary|needed|"
    r"mandatory|essential|important|a must)\b"
)
_ASKS_SKIPPABLE = (
    r"\b(?:skip\w*|without|leave|leaving|omit\w*|not|optional|skippable|ok|okay|fine)\b"
)


_ABOUT_THE_TEXT = frozenset(
    {
        IntentKind.HOW_TO,
        IntentKind.PURPOSE,
        IntentKind.STEP_DURATION,
        IntentKind.TROUBLE,
        IntentKind.OTHER,
    }
)
"""Kinds answered from the procedure's text: off topic when it shares no word with it."""


def _points_at_task(text: str, procedure: Procedure) -> bool:
    """The text speaks of the task in general words ("step", "temperature", "ready"), or
    points at it ("how do I finish it off?", "is it done yet?") with no word the
    procedure's text does not know ("is it going to rain?" does not)."""
    if _has(r"\b(?:steps?|recipe|task|procedure|temperature|setting|amount|size|ready)\b", text):
        return True
    unknown = [w for w in retrieval_words(text) if w not in passage_index(procedure).vocabulary]
    return _has(r"\b(?:it|this|that|these|those|them|here)\b", text) and not unknown


def _off_topic(text: str, procedure: Procedure) -> bool:
    """A question of a kind answered from the text ("how do I ...?") with content words
    the procedure's text has none of, that does not point at the task at all ("it",
    "this", "step": "how do I finish it off?", "how long does this take?")."""
    pointing = r"\b(?:it|this|that|these|those|them|here)\b"
    if _has(pointing, text) or _points_at_task(text, procedure):
        return False
    index = passage_index(procedure)
    return bool(retrieval_words(text)) and index.coverage(text) == 0.0


_UNSURE_RULES = frozenset({IntentKind.OTHER, IntentKind.OUT_OF_SCOPE, IntentKind.HOW_TO})
"""Rule outcomes a similar example may overrule: the fall-backs, and "how ..." questions
(the rules take "how many ..." as asking how to, unless they know the phrasing)."""

_BY_SIMILARITY = frozenset(
    {
        IntentKind.CURRENT,
        IntentKind.NEXT,
        IntentKind.JUST_FINISHED,
        IntentKind.HISTORY,
        IntentKind.STEPS_DONE,
        IntentKind.REMAINING,
        IntentKind.STEPS_LEFT,
        IntentKind.TIME_LEFT,
        IntentKind.MISSED,
        IntentKind.FIRST,
        IntentKind.LAST,
        IntentKind.ALL_STEPS,
        IntentKind.OUT_OF_SCOPE,
    }
)
"""Kinds a similar example can give (``other`` and ``trouble`` examples only keep
questions of those kinds from being pulled elsewhere)."""

SIMILAR_INTENT_MIN = 0.6
"""Least cosine similarity of the closest example of the winning kind."""

SIMILAR_VOTE_MIN = 0.4
"""Least share of the nearest examples' weighted vote for the winning kind."""

SIMILAR_DETAIL_MIN = 0.5
"""Least similarity to a detail question for a question the rules find off topic (no
word of the procedure's text) to be answered from the text after all."""

SIMILAR_NONE_MIN = 0.75
"""Least similarity for an utterance the rules did not take as a question ("go through
the steps I've done") to be answered as one."""


def _by_similarity(intent: Intent, text: str) -> Intent:
    """``intent`` with the kind of the most similar examples, when they agree well enough
    (a question the rules did not take as one, :attr:`IntentKind.NONE`, needs
    :data:`SIMILAR_NONE_MIN` and is never declined for it; one they found off topic is
    answered from the text if it is much like a detail question)."""
    similar = similar_intent(text)
    if similar is None or similar.share < SIMILAR_VOTE_MIN:
        return intent
    if (
        intent.kind == IntentKind.OUT_OF_SCOPE
        and similar.kind == IntentKind.OTHER
        and similar.similarity >= SIMILAR_DETAIL_MIN
        and not _has(_ERRAND, text)
    ):
        return replace(intent, kind=IntentKind.OTHER)  # "which direction to get it off?"
    if similar.kind not in _BY_SIMILARITY:
        return intent
    if intent.kind == IntentKind.NONE and (
        similar.similarity < SIMILAR_NONE_MIN or similar.kind == IntentKind.OUT_OF_SCOPE
    ):
        return intent
    if similar.similarity < SIMILAR_INTENT_MIN:
        return intent
    return replace(intent, kind=IntentKind(similar.kind))


def understand(utterance: str, procedure: Procedure) -> Intent:
    """What ``utterance`` asks or tells, and which steps it names.

    Parameters
    ----------
    utterance : str
        What the user said (a transcript or typed text).
    procedure : Procedure
        Resolves step names and paraphrases.
    """
    text = normalise(utterance)
    intent = _understand(text, procedure)
    if intent.asked and intent.kind in (*_UNSURE_RULES, IntentKind.NONE):
        intent = _by_similarity(intent, text)
    asks_required = (
        intent.kind == IntentKind.SKIP
        and _has(_ASKS_REQUIRED, text)
        and not _has(_ASKS_SKIPPABLE, text)
    )
    yes_no = intent.kind != IntentKind.NONE and _has(_YES_NO, text)
    return replace(intent, text=text, asks_required=asks_required, yes_no=yes_no)


def _understand(text: str, procedure: Procedure) -> Intent:
    """:func:`understand` on normalised text (without ``text`` and ``asks_required``)."""
    if not re.search(r"[a-z]", text):
        return Intent(IntentKind.NONE)
    statement = _statement(text, procedure)
    if statement is not None:
        return statement
    clauses = [c.strip() for c in re.split(r"[,;:]", text) if c.strip()]
    is_question = (
        text.endswith("?")
        or any(_has(_QUESTION_START, c) for c in clauses)
        or _has(_QUESTION_ANYWHERE, text)
    )
    if _has(_ADDRESSED_ELSEWHERE, text):
        return Intent(IntentKind.NONE)
    steps = tuple(rank_steps(text, procedure))
    if not is_question:
        reports_trouble = _has(_TROUBLE_STATEMENT, text)
        return (
            Intent(IntentKind.TROUBLE, steps, asked=False)
            if reports_trouble
            else Intent(IntentKind.NONE)
        )
    for kind, pattern in _RULES:
        if _has(pattern, text):
            if kind == IntentKind.DID_I and not steps:
                continue
            if kind == IntentKind.MISSED and steps and not _has(_ANY_STEP, text):
                kind = IntentKind.DID_I  # "did I forget to purge the wand?"
            if kind in _ABOUT_THE_TEXT and not steps and _off_topic(text, procedure):
                kind = IntentKind.OUT_OF_SCOPE  # "how many calories are in a croissant?"
            return Intent(kind, steps)
    if _has(r"^(?:did|have|had) (?:i|we)\b", text):
        return Intent(IntentKind.DID_I)  # about something that is not a step
    about_task = (
        steps
        or passage_index(procedure).known_words(text)
        or _points_at_task(text, procedure)  # "what do I need for this?", "is it done yet?"
    )
    return Intent(IntentKind.OTHER if about_task else IntentKind.OUT_OF_SCOPE, steps)
