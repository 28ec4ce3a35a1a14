"""The grounded answer layer: short answers computed from the step state, no LLM.

Every answer is one or two short sentences built from :mod:`prism.assistant.facts` and
the procedure's own texts, so it can only name steps of the procedure. When the tracker
is unsure where the user is (the top candidate below ``confident_probability``), answers
that depend on it are conditional: "If you are on steam milk, next is purge wand; if you
are on pour milk, next is ...".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from prism.assistant.context import AssistantContext, StepBelief
from prism.assistant.facts import (
    first_steps,
    last_finished,
    last_step,
    missed_steps,
    next_steps,
    prerequisites,
    remaining_path,
    remaining_time_s,
    required_steps,
    skip_advice,
    step_before,
    steps_done,
)
from prism.assistant.intents import Intent, IntentKind, choice_options, step_number
from prism.assistant.mentions import rank_steps
from prism.assistant.passages import split_sentences
from prism.assistant.quoted import (
    QuoteConfig,
    answer_polarity,
    gives_advice,
    quote,
    sentence_case,
    spoken_sentence,
)
from prism.assistant.retrieval import passage_index
from prism.observer.reminders import descendants, usual_order
from prism.procedure.model import Procedure

__all__ = [
    "GroundedAnswer",
    "GroundingConfig",
    "answer_intent",
    "format_duration",
    "step_phrase",
]


@dataclass(frozen=True)
class GroundingConfig:
    """When the state counts as certain, and which alternatives are worth naming.

    Parameters
    ----------
    confident_probability : float
        The top current-step candidate is asserted at or above this probability.
    alternative_probability : float
        Below it, other candidates at or above this are named conditionally.
    max_alternatives : int
        At most this many candidates in a conditional answer.
    almost_done_steps : int
        "Am I almost done?" is answered yes with at most this many steps left.
    named_step_score : float
        A step named in a question counts when it matches at least this well.
    close_score : float
        Step matches scoring at least this share of the best one are compared by how
        much of the question they explain (:func:`_step_in_question`).
    quoting : QuoteConfig
        Answers quoted from the procedure's text.
    unprompted_relevance, unprompted_coverage : float
        A problem told, not asked ("the oil is spitting"), is answered only when a
        sentence that gives advice (:func:`~prism.assistant.quoted.gives_advice`) is
        found, some sentence shares words with it at least this well (BM25 relevance,
        embeddings aside: with them, "there's milk on the floor" matches the milk
        steps) and the procedure's text knows at least this share of its words; else
        the assistant stays silent.
    step_weights : tuple of float
        Retrieval weights (:func:`~prism.assistant.retrieval.retrieve`) of the step
        named in the question, the current step, the next steps and the procedure's
        own description (other steps weigh 1): among sentences that match about as
        well, those of the likelier steps win.
    """

    confident_probability: float = 0.6
    alternative_probability: float = 0.15
    max_alternatives: int = 3
    almost_done_steps: int = 2
    named_step_score: float = 0.25
    close_score: float = 0.97
    quoting: QuoteConfig = field(default_factory=QuoteConfig)
    unprompted_relevance: float = 0.15
    unprompted_coverage: float = 0.5
    step_weights: tuple[float, float, float, float] = (1.25, 1.15, 1.1, 0.9)


@dataclass(frozen=True)
class GroundedAnswer:
    """An answer and the facts behind it.

    Attributes
    ----------
    text : str or None
        The answer (``None``: the utterance was not for the assistant).
    intent : Intent
    steps : tuple of str
        Every step the answer names (an LLM rephrasing may name no others).
    polarity : bool or None
        Yes/no answers: True for yes, False for no.
    needs_state : bool
        The answer depends on the step state (so it is wrong without it).
    sentences : tuple of str
        The procedure's sentences the answer quotes (for an LLM's prompt).
    """

    text: str | None
    intent: Intent
    steps: tuple[str, ...] = ()
    polarity: bool | None = None
    needs_state: bool = False
    sentences: tuple[str, ...] = ()


def step_phrase(procedure: Procedure, step: str) -> str:
    """A step's name for use inside a sentence (:attr:`Step.name_in_sentence`)."""
    return procedure.step(step).name_in_sentence


def _lower_first(text: str) -> str:
    """First letter in lower case (unless the first word is an acronym: "USB")."""
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _join(phrases: list[str], last: str = "or") -> str:
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + f" {last} " + phrases[-1]


def format_duration(seconds: float) -> str:
    """``"about 45 seconds"``, ``"about 2.5 minutes"`` (rounded for speech: seconds up
    to two minutes, then half minutes)."""
    if seconds < 120.0:
        return f"about {max(1, round(seconds))} seconds"
    minutes = round(seconds / 30.0) / 2.0
    return f"about {minutes:g} minutes"


_TIME = re.compile(
    r"\b(?:\d+(?:[.,-]\d+)?|one|two|three|four|five|ten|a few|a)\s*(?:-\s*\d+\s*)?"
    r"(?:s|sec|secs|seconds?|min|mins|minutes?|hours?|h)\b",
    re.IGNORECASE,
)
"""A time written in a step's text ("25-30 s", "one or two seconds", "5 minutes")."""
_NEEDED = r"\b(?:need|needs|have to|has to|must|required|should|supposed)\b"
"""A "before" question about what is needed first, not what comes right before."""
_UNKNOWN_STATE = "I can't tell where you are in the task yet."
_OUT_OF_SCOPE = "Sorry, I can only help with the steps of this task."
_ABOUT_A_STEP = (IntentKind.HOW_TO, IntentKind.PURPOSE, IntentKind.STEP_DURATION)


class _Answerer:
    """Builds the answer for one intent and context."""

    def __init__(self, context: AssistantContext, config: GroundingConfig) -> None:
        self.context = context
        self.config = config
        self.procedure = context.procedure
        self.named: list[str] = []
        self.polarity: bool | None = None
        """The yes/no of a quoted answer to a yes/no question (when the text says it)."""
        self.sentences: tuple[str, ...] = ()
        """The procedure's sentences a quoted answer quotes."""

    def name(self, step: str) -> str:
        self.named.append(step)
        return step_phrase(self.procedure, step)

    def candidates(self) -> list[StepBelief]:
        """The current-step beliefs to answer for: one if confident, else several."""
        current = list(self.context.current)
        if not current or current[0].probability >= self.config.confident_probability:
            return current[:1]
        kept = [b for b in current if b.probability >= self.config.alternative_probability]
        return kept[: self.config.max_alternatives]

    # --- one method per intent -------------------------------------------------------

    def current(self) -> str:
        beliefs = self.candidates()
        if not beliefs or (beliefs[0].step is None and len(beliefs) == 1):
            done = self.context.done_ids
            if not done:
                return "You have not started yet."
            return f"You are between steps; you last finished {self.name(done[-1])}."
        if len(beliefs) == 1 and beliefs[0].step is not None:
            return f"You are on {self.name(beliefs[0].step)}."
        options = [self.name(b.step) for b in beliefs if b.step is not None]
        return f"I'm not sure: probably {options[0]}" + (
            f", or maybe {_join(options[1:])}." if options[1:] else "."
        )

    def _next_text(self, done: list[str], current: str | None) -> str:
        following = next_steps(self.procedure, done, current)
        names = [self.name(s) for s in following.steps]
        if not names:
            return "that was the last step" if following.may_end else "nothing is left"
        text = _join(names)
        return f"{text}, or you may be done" if following.may_end else text

    def next(self, named: str | None) -> str:
        done = list(self.context.done_ids)
        if named is not None and named != self.context.current_step:
            following = self._next_text(done, named)
            if following == "that was the last step":
                return f"{self.name(named)[:1].upper()}{self.name(named)[1:]} is the last step."
            return f"After {self.name(named)}: {following}."
        beliefs = self.candidates()
        if len(beliefs) <= 1:
            current = beliefs[0].step if beliefs else None
            text = self._next_text(done, current)
            if text == "that was the last step":
                return "That was the last step: you are done after this one."
            return f"Next: {text}."
        parts = []
        for belief in beliefs:
            if belief.step is None:
                continue
            here = self.name(belief.step)
            parts.append(f"if you are on {here}, next is {self._next_text(done, belief.step)}")
        sentence = "; ".join(parts)
        return sentence[:1].upper() + sentence[1:] + "."

    def did_i(self, named: str) -> tuple[str, bool]:
        phrase = self.name(named)
        if named in self.context.done_ids:
            return f"Yes, you already did {phrase}.", True
        beliefs = self.candidates()
        if beliefs and beliefs[0].step == named:
            return f"Yes, you are doing {phrase} now.", True
        if any(b.step == named for b in beliefs):
            return f"Not finished: you may be doing {phrase} right now.", False
        return f"No, you have not done {phrase} yet.", False

    def history(self) -> str:
        done = self.context.done_ids
        if not done:
            return "You have not finished any step yet."
        return "So far you did: " + _join([self.name(s) for s in done], "and") + "."

    def just_finished(self) -> str:
        last = last_finished(self.context.done_ids)
        if last is None:
            return "You have not finished any step yet."
        return f"You just finished {self.name(last)}."

    def remaining(self) -> str:
        """The steps left on the most probable path, named."""
        beliefs = self.candidates()
        current = beliefs[0].step if beliefs else None
        left = remaining_path(self.procedure, list(self.context.done_ids), current)
        if not left:
            return "Nothing: this is the last step." if current else "Nothing: you are done."
        unit = "step" if len(left) == 1 else "steps"
        where = f" after {self.name(current)}" if current else ""
        names = _join([self.name(s) for s in left], "and")
        return f"{len(left)} {unit} left{where}: {names}."

    def which_first(self, intent: Intent) -> str | None:
        """Which of the two options asked about comes first (``None``: they are not two
        steps)."""
        options = choice_options(intent.text)
        if options is None:
            return None
        # each option's step: one it names and the other option does not ("the jelly or
        # the nut butter": *Spread jelly over the nut butter* names both, so tells neither)
        scores = [
            {m.step: m.score for m in rank_steps(option, self.procedure, min_score=0.1)}
            for option in options
        ]
        pairs = [
            (scores[0][a] - scores[1].get(a, 0.0) + scores[1][b] - scores[0].get(b, 0.0), a, b)
            for a in scores[0]
            for b in scores[1]
            if a != b
        ]
        if not pairs or max(pairs)[0] <= 0.0:
            return None
        _, first, second = max(pairs)
        steps = [first, second]
        later = descendants(self.procedure)
        path = list(usual_order(self.procedure))
        position = {s: path.index(s) if s in path else len(path) for s in steps if s}
        in_order = second in later[first] or (
            first not in later[second] and position[first] <= position[second]
        )
        before, after = options if in_order else options[::-1]
        return f"First {before}, then {after}."

    def all_steps(self) -> str:
        path = usual_order(self.procedure)
        return f"Usually, in order: {_join([self.name(s) for s in path], 'and')}."

    def numbered(self, number: int) -> str:
        """The procedure's ``number``-th step along its most probable path."""
        path = usual_order(self.procedure)
        if not 1 <= number <= len(path):
            return f"The procedure usually has {len(path)} steps."
        return f"Step {number} is usually {self.name(path[number - 1])}."

    def first(self) -> str:
        steps = first_steps(self.procedure)
        return f"First: {_join([self.name(s) for s in steps])}." if steps else "Any step."

    def last(self) -> str:
        step = last_step(self.procedure)
        return f"The last step is {self.name(step)}." if step else "The procedure has no steps."

    def steps_total(self) -> str:
        total = self.procedure.n_steps
        done = len(steps_done(self.context.done_ids))
        if not self.context.state_known:
            return f"The procedure has {total} steps."
        return f"The procedure has {total} steps; you have finished {done}."

    def steps_done(self) -> str:
        count = len(steps_done(self.context.done_ids))
        if count == 0:
            return "You have not finished any step yet."
        return f"You have finished {count} {'step' if count == 1 else 'steps'} so far."

    def before(self, step: str, *, required: bool) -> str:
        """What must be done before ``step`` (``required``: "what do I need before X?"),
        else the step done right before it if it is done, else the one that usually comes
        before it."""
        done = list(self.context.done_ids)
        needed = prerequisites(self.procedure, step) if required else []
        if needed:
            names = _join([self.name(s) for s in needed], "and")
            return f"Before {self.name(step)} you need: {names}."
        if step in done and done.index(step) > 0:
            earlier = done[done.index(step) - 1]
            return f"Before {self.name(step)} you did {self.name(earlier)}."
        earlier_step = step_before(self.procedure, step)
        if earlier_step is None:
            return f"{sentence_case(self.name(step))} usually comes first."
        return f"Before {self.name(step)} comes {self.name(earlier_step)}."

    def skip(self, step: str, intent: Intent) -> tuple[str, bool | None]:
        """May ``step`` be left out, and why not; yes/no follows the question's form
        ("can I skip it?" yes = it may be skipped, "do I have to?" yes = it is required).
        The step is "it": the question named it or means the current one."""
        advice = skip_advice(self.procedure, step)
        self.named.append(step)
        if advice.reason and advice.needed_by is None and not advice.may_skip:
            why = _lower_first(spoken_sentence(advice.reason))
        elif advice.needed_by is not None:
            why = f"it has to come before {self.name(advice.needed_by)}."
        elif len(required_steps(self.procedure)) == self.procedure.n_steps:
            why = "the procedure needs every step."
        else:
            why = "the procedure marks it as a step not to skip."
        fact = "it is optional here." if advice.may_skip else f"it must not be skipped: {why}"
        if not intent.yes_no and intent.text.startswith("what"):  # "what if I skip it?"
            return sentence_case(fact), None
        if intent.asks_required:
            return ("No, " if advice.may_skip else "Yes, ") + fact, not advice.may_skip
        if advice.may_skip:
            return "Yes, you can skip it: it is optional here.", True
        return f"No, don't skip it: {why}", False

    def skipped_step(self, named: str, intent: Intent) -> str:
        """The step a skip question means: among the steps it names about as well, one
        not done yet (a done step cannot be skipped any more)."""
        done = set(self.context.done_ids)
        if named not in done:
            return named
        score = next((m.score for m in intent.steps if m.step == named), 0.0)
        for match in intent.steps:
            if match.step not in done and match.score >= self.config.close_score * score:
                return match.step
        return named

    def preferences(self, intent: Intent) -> dict[str | None, float]:
        """Retrieval weights per step (see :attr:`GroundingConfig.step_weights`)."""
        named_weight, current_weight, next_weight, procedure_weight = self.config.step_weights
        weights: dict[str | None, float] = {None: procedure_weight}
        if self.context.state_known:
            beliefs = [b.step for b in self.candidates() if b.step is not None]
            current = beliefs[0] if len(beliefs) == 1 else None
            for step in next_steps(self.procedure, list(self.context.done_ids), current).steps:
                weights[step] = next_weight
            for step in beliefs:
                weights[step] = current_weight
        for match in intent.steps:
            if match.score >= self.config.named_step_score:
                weights[match.step] = max(weights.get(match.step, 1.0), named_weight)
        return weights

    def quoted(self, intent: Intent) -> str | None:
        """The procedure's sentence(s) that answer the question, with their step named
        (``None``: a problem told that the procedure has no clear advice for)."""
        found = quote(
            intent.text,
            self.procedure,
            preferred=self.preferences(intent),
            trouble=intent.kind == IntentKind.TROUBLE,
            config=self.config.quoting,
        )
        index = passage_index(self.procedure)
        if not intent.asked and (
            found is None
            or not any(gives_advice(sentence) for sentence in found.sentences)
            or index.lexical_relevance(intent.text).max(initial=0.0)
            < self.config.unprompted_relevance
            or index.coverage(intent.text) < self.config.unprompted_coverage
        ):
            return None
        current = self.context.current_step if self.context.state_known else None
        deictic = intent.kind == IntentKind.OTHER and re.search(
            r"\b(?:this|it|that|here)\b", intent.text
        )
        if current is not None and (found is None or (deictic and not found.sure)):
            # "what do I need for this?": weakly matched, about what the user is doing
            step = self.procedure.step(current)
            text = _lower_first(spoken_sentence(step.description or step.name))
            if step.name.lower().rstrip(".") in text.lower():  # recipes: the name is the text
                self.named.append(current)
                return f"I'm not sure, but {text}"
            return f"I'm not sure, but for {self.name(current)}: {text}"
        if found is None:
            return "I'm not sure: the procedure does not say."
        if found.step is not None:
            self.named.append(found.step)
        self.sentences = found.sentences
        if intent.yes_no and " or " not in intent.text and found.sure:
            self.polarity = answer_polarity(intent.text, found.sentences)
            if self.polarity is not None:
                return ("Yes. " if self.polarity else "No. ") + found.text
        return found.text

    def missed(self) -> str:
        beliefs = self.candidates()
        current = beliefs[0].step if len(beliefs) == 1 else None
        skipped = missed_steps(self.procedure, list(self.context.done_ids), current)
        if not skipped:
            return "Nothing so far: you have not skipped any step."
        names = _join([self.name(s) for s in skipped], "and")
        return f"You skipped {names}; do it before you go on."

    def steps_left(self, yes_no: bool) -> tuple[str, bool | None]:
        beliefs = self.candidates()
        current = beliefs[0].step if beliefs else None
        left = len(remaining_path(self.procedure, list(self.context.done_ids), current))
        if left == 0:
            text = "this is the last step." if current else "you are done: no steps left."
        else:
            unit = "step" if left == 1 else "steps"
            text = f"{left} {unit} left" + (" after this one." if current else ".")
        if not yes_no:
            return text[:1].upper() + text[1:], None
        almost = left <= self.config.almost_done_steps
        return ("Yes, " if almost else "No, ") + text, almost

    def time_left(self) -> str:
        remaining = self.context.remaining_s
        if remaining is None:
            beliefs = self.candidates()
            current = beliefs[0].step if beliefs else None
            remaining = remaining_time_s(self.procedure, list(self.context.done_ids), current)
        if remaining < 1.0:
            return "You are about done."
        return f"You should be done in {format_duration(remaining)}."

    def about_step(self, kind: IntentKind, step: str) -> str:
        if kind == IntentKind.HOW_TO:
            return self.how_to(step)
        if kind == IntentKind.PURPOSE:
            return self.purpose(step)
        return self.step_duration(step)

    def about_current(self, kind: IntentKind) -> str:
        """How to / what for / how long of the current step, per candidate if unsure."""
        beliefs = [b for b in self.candidates() if b.step is not None]
        if len(beliefs) == 1:
            return self.about_step(kind, beliefs[0].step or "")
        parts = []
        for belief in beliefs:
            step = belief.step or ""
            if kind == IntentKind.STEP_DURATION:
                detail = format_duration(self.procedure.step(step).duration.mean)
            else:
                found = self.procedure.step(step)
                detail = (
                    (
                        (found.notes.reminder if kind == IntentKind.PURPOSE else None)
                        or found.description
                    )
                    .strip()
                    .rstrip(".")
                )
                detail = detail[:1].lower() + detail[1:]
            parts.append(f"if you are on {self.name(step)}, {detail}")
        sentence = "; ".join(parts)
        return sentence[:1].upper() + sentence[1:] + "."

    def step_duration(self, step: str) -> str:
        """The step's mean duration, with the time its text gives (reminder first)."""
        found = self.procedure.step(step)
        text = f"{found.name} takes {format_duration(found.duration.mean)}."
        self.named.append(step)
        timed = [
            sentence
            for sentence in split_sentences(found.notes.reminder or "")
            + split_sentences(found.description)
            if _TIME.search(sentence)
        ]
        note = spoken_sentence(timed[0]) if timed else found.notes.reminder
        return f"{text} {sentence_case(note)}" if note else text

    def how_to(self, step: str) -> str:
        description = self.procedure.step(step).description.strip()
        phrase = self.name(step)
        if not description:
            return f"For {phrase}, the procedure gives no more detail."
        return f"To {phrase}: {description[:1].lower()}{description[1:]}"

    def purpose(self, step: str) -> str:
        found = self.procedure.step(step)
        phrase = self.name(step)
        why = found.notes.reminder or found.description.strip()
        if not why:
            return f"The procedure does not say what {phrase} is for."
        return f"{phrase[:1].upper()}{phrase[1:]}: {why}"


def _step_in_question(
    intent: Intent, context: AssistantContext, config: GroundingConfig
) -> str | None:
    """The step the question names.

    Among matches about as good as the best (90 % of its matched weight), the step the
    user is most probably on wins ("have I microwaved it yet?" while microwaving);
    otherwise, among matches that score about as well as the best (``close_score`` of
    it), the one with the most telling words matched ("put the cup under" is *Place
    cup*, whose text says "under", rather than *Remove cup*), if it covers
    ``named_step_score`` of its step's name.
    """
    if not intent.steps:
        return None
    top = intent.steps[0]
    tied = [m.step for m in intent.steps if m.matched >= 0.9 * top.matched]
    if context.state_known and context.current_step in tied:
        return context.current_step
    close = [m for m in intent.steps if m.score >= config.close_score * top.score]
    best = max(close, key=lambda m: m.matched)
    return best.step if best.score >= config.named_step_score else None


def answer_intent(
    intent: Intent, context: AssistantContext, config: GroundingConfig | None = None
) -> GroundedAnswer:
    """The grounded answer to an understood question.

    Parameters
    ----------
    intent : Intent
        From :func:`prism.assistant.intents.understand`.
    context : AssistantContext
        The procedure and step state (``state_known=False``: procedure only).
    config : GroundingConfig, optional
    """
    config = config or GroundingConfig()
    answerer = _Answerer(context, config)
    kind = intent.kind
    named = _step_in_question(intent, context, config)
    current = context.current_step if context.state_known else None
    polarity: bool | None = None
    needs_state = False
    text: str | None
    skipped = named or current
    if kind == IntentKind.NONE:
        text = None
    elif kind == IntentKind.OUT_OF_SCOPE:
        text = _OUT_OF_SCOPE
    elif kind == IntentKind.REPEAT:
        said = [turn.answer for turn in context.dialogue if turn.answer]
        text = said[-1] if said else "I have not said anything yet."
    elif kind in (IntentKind.OTHER, IntentKind.TROUBLE):
        text = answerer.quoted(intent)
    elif kind == IntentKind.SKIP and skipped is not None:
        step = answerer.skipped_step(named, intent) if named is not None else skipped
        (text, polarity), needs_state = answerer.skip(step, intent), named is None
    elif kind == IntentKind.BEFORE and named is not None and named != current:
        required = bool(re.search(_NEEDED, intent.text))
        text, needs_state = answerer.before(named, required=required), named in context.done_ids
    elif kind == IntentKind.BEFORE and intent.text.startswith("when"):
        text = answerer.quoted(intent)
    elif kind == IntentKind.WHICH_FIRST and (order := answerer.which_first(intent)) is not None:
        text = order
    elif kind == IntentKind.STEPS_TOTAL:
        text = answerer.steps_total()
    elif kind == IntentKind.STEP_NUMBER and (number := step_number(intent.text)) is not None:
        text = answerer.numbered(number)
    elif kind == IntentKind.ALL_STEPS:
        text = answerer.all_steps()
    elif kind == IntentKind.FIRST:
        text = answerer.first()
    elif kind == IntentKind.LAST:
        text = answerer.last()
    elif kind in _ABOUT_A_STEP and named is not None:
        text = answerer.about_step(kind, named)
    elif kind in _ABOUT_A_STEP and context.state_known and context.current_step is not None:
        text, needs_state = answerer.about_current(kind), True
    elif kind == IntentKind.NEXT and named is not None and named != current:
        text = answerer.next(named)
    elif not context.state_known and kind not in _ABOUT_A_STEP:
        text, needs_state = _UNKNOWN_STATE, True
    elif kind == IntentKind.CURRENT:
        text, needs_state = answerer.current(), True
    elif kind == IntentKind.NEXT:
        text, needs_state = answerer.next(None), True
    elif kind == IntentKind.DID_I and intent.step is not None:
        asked = named or intent.step
        (text, polarity), needs_state = answerer.did_i(asked), True
    elif kind == IntentKind.DID_I:
        text = f"That is not a step of {context.procedure.name.lower()}, so I can't tell."
    elif kind in (IntentKind.JUST_FINISHED, IntentKind.BEFORE):
        text, needs_state = answerer.just_finished(), True
    elif kind == IntentKind.HISTORY:
        text, needs_state = answerer.history(), True
    elif kind == IntentKind.REMAINING:
        text, needs_state = answerer.remaining(), True
    elif kind == IntentKind.STEPS_DONE:
        text, needs_state = answerer.steps_done(), True
    elif kind == IntentKind.MISSED:
        text, needs_state = answerer.missed(), True
    elif kind == IntentKind.STEPS_LEFT:
        (text, polarity), needs_state = answerer.steps_left(intent.yes_no), True
    elif kind == IntentKind.TIME_LEFT:
        text, needs_state = answerer.time_left(), True
    else:  # how to / what for / how long of no step in particular, a skip of no step
        text = answerer.quoted(intent)
    if polarity is None:
        polarity = answerer.polarity
    steps = tuple(dict.fromkeys(answerer.named))
    return GroundedAnswer(text, intent, steps, polarity, needs_state, answerer.sentences)
