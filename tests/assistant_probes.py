"""Free-form questions about details written in the procedures' text, shared by the
assistant's tests and the retrieval benchmark (``benchmarks/assistant_retrieval.py``).

Each probe: the task, a question as people ask it, the step whose text answers it, and a
phrase of that text the answer must quote. Written by hand, phrased unlike the text
where people would ("how hot" for "60-65 °C"); not taken from any evaluation set.
"""

from __future__ import annotations

from typing import NamedTuple


class Probe(NamedTuple):
    task: str
    question: str
    step: str | None
    """The step whose text answers (``None``: the procedure's own description)."""
    phrase: str


DETAIL_PROBES: tuple[Probe, ...] = (
    Probe(
        "latte_making",
        "How full should the jug be?",
        "pour_milk_jug",
        "a third full",
    ),
    Probe(
        "latte_making",
        "how hot should the milk get",
        "steam_milk",
        "60-65 °C",
    ),
    Probe(
        "latte_making",
        "which button do I press for the shot",
        "brew_coffee",
        "double-shot",
    ),
    Probe(
        "latte_making",
        "when do I stop the shot",
        "brew_coffee",
        "turns pale",
    ),
    Probe(
        "latte_making",
        "which way do I turn the handle to lock it",
        "move_filter",
        "right",
    ),
    Probe(
        "latte_making",
        "where does the cup go",
        "place_cup",
        "drip tray",
    ),
    Probe(
        "latte_making",
        "what do I wipe the wand with",
        "clean_wand",
        "damp towel",
    ),
    Probe(
        "latte_making",
        "how long do I open the valve to purge",
        "purge_wand",
        "one or two",
    ),
    Probe(
        "latte_making",
        "should the towel be wet or dry",
        "get_towel",
        "dampen",
    ),
    Probe(
        "latte_making",
        "what does a finer grind do",
        "adjust_grind",
        "stronger shot",
    ),
    Probe(
        "latte_making",
        "where do the used grounds go",
        "dump_grinds",
        "knock box",
    ),
    Probe(
        "latte_making",
        "how do I leave the jug after washing",
        "wash_jug",
        "upside down",
    ),
    Probe(
        "latte_making",
        "where do I hold the wand tip in the milk",
        "steam_milk",
        "surface",
    ),
    Probe(
        "latte_making",
        "how do I get the foam glossy",
        "pour_milk_cup",
        "swirl",
    ),
    Probe(
        "wound_care",
        "what if it keeps bleeding?",
        "apply_pressure",
        "medical help",
    ),
    Probe(
        "wound_care",
        "the old dressing is stuck to the skin, what do I do?",
        "remove_old_dressing",
        "saline",
    ),
    Probe(
        "wound_care",
        "should I scrub the cut",
        "rinse_wound",
        "do not scrub",
    ),
    Probe(
        "wound_care",
        "how big should the dressing be",
        "apply_dressing",
        "larger",
    ),
    Probe(
        "wound_care",
        "how long should the antiseptic dry",
        "apply_antiseptic",
        "30-60 s",
    ),
    Probe(
        "wound_care",
        "how thick should the ointment be",
        "apply_ointment",
        "thin layer",
    ),
    Probe(
        "wound_care",
        "do I rub the skin dry",
        "pat_dry",
        "do not rub",
    ),
    Probe(
        "wound_care",
        "how do I take the gloves off",
        "dispose_waste",
        "inside out",
    ),
    Probe(
        "wound_care",
        "how long do I wash my hands for",
        "wash_hands",
        "20 seconds",
    ),
    Probe(
        "wound_care",
        "what should I rinse the cut with",
        "rinse_wound",
        "saline",
    ),
    Probe(
        "wound_care",
        "what if blood soaks through the gauze",
        "apply_pressure",
        "on top",
    ),
    Probe(
        "wound_care",
        "when is a wound too serious to treat at home",
        None,
        "deep or gaping",
    ),
    Probe(
        "wound_care",
        "what are signs of an infection",
        None,
        "redness",
    ),
    Probe(
        "pinwheels",
        "how far apart do the toothpicks go",
        "secure_the_rolled_tortilla_by_inserting",
        "1 inch",
    ),
    Probe(
        "pinwheels",
        "how thick should the roll be",
        "roll_the_tortilla_from_one_end_to_the",
        "1.5 inches",
    ),
    Probe(
        "pinwheels",
        "how much of the edge do I leave uncovered",
        "spread_nut_butter_onto_the_tortilla",
        "1/2-inch",
    ),
    Probe(
        "pinwheels",
        "what size tortilla do I use",
        "place_8_inch_flour_tortilla_on_cutting",
        "8-inch",
    ),
    Probe(
        "pinwheels",
        "what do I clean the knife with",
        "clean_the_knife_by_wiping_with_a_paper",
        "paper towel",
    ),
    Probe(
        "microwave_mug_pizza",
        "how much flour goes in",
        "measure_4_tablespoons_of_flour_and_add",
        "4 tablespoons",
    ),
    Probe(
        "microwave_mug_pizza",
        "is it a problem if the batter has lumps",
        "mix_the_contents_of_the_mug_thoroughly",
        "lumps",
    ),
    Probe(
        "microwave_mug_pizza",
        "how do I know the pizza is ready",
        "microwave_for_1_minute_20_seconds_or",
        "bubbling",
    ),
    Probe(
        "microwave_mug_pizza",
        "how much cheese on top",
        "sprinkle_1_generous_tablespoon_of",
        "generous tablespoon",
    ),
    Probe(
        "dressed_up_meatballs",
        "how many meatballs",
        "place_5_meatballs_in_a_microwave_safe",
        "5 meatballs",
    ),
    Probe(
        "dressed_up_meatballs",
        "how much soy sauce",
        "mix_1_4_cup_sweet_and_sour_sauce_and_1_2",
        "soy sauce",
    ),
    Probe(
        "spiced_hot_chocolate",
        "how much cinnamon",
        "add_1_5_teaspoon_cinnamon_to_the_mug",
        "1/5 teaspoon",
    ),
    Probe(
        "spiced_hot_chocolate",
        "what kind of milk",
        "fill_a_microwave_safe_mug_with_skimmed",
        "skimmed milk",
    ),
)
