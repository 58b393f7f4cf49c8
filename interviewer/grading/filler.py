"""Content-free sentences for *training* the substance classifier, never for measuring it.

The dev set's sentences that say nothing are platitudes and hedges. Padding an attacker writes is
different: first person, past tense, with numbers, about things that happened at work but are no
evidence of anything ("I booked 6 rooms for 40 minutes"). A classifier that has never seen such a
sentence takes its grammar and its numbers for substance. These negatives show it some.

This generator is deliberately separate from the attack generator in interviewer/evals/attacks.py,
with its own frames and vocabulary, written without looking at that one's output: the robustness
eval pads with sentences the classifier was not trained on, as an attacker's padding would be.
"""

from __future__ import annotations

import random

_SUBJECTS = ("I", "We", "I", "We", "My team and I", "The two of us", "Together we", "I personally")
# (past-tense verb phrase with {n} for a count, the noun it counts)
_ACTIONS = (
    ("booked {n}", "meeting rooms"),
    ("ordered {n}", "sandwiches for the offsite"),
    ("printed {n}", "copies of the agenda"),
    ("answered {n}", "emails before lunch"),
    ("walked {n}", "flights of stairs to the fourth floor"),
    ("moved {n}", "desks to the new wing"),
    ("renamed {n}", "calendar invites"),
    ("counted {n}", "chairs in the town hall"),
    ("watered {n}", "plants in the kitchen"),
    ("sorted {n}", "folders on the shared drive"),
    ("bought {n}", "whiteboard markers"),
    ("rode {n}", "stops on the tram to the client site"),
    ("recorded {n}", "minutes of hold music"),
    ("replaced {n}", "batteries in the wireless mice"),
    ("wrapped {n}", "presents for the holiday party"),
    ("posted {n}", "emojis in the team channel"),
    ("carried {n}", "boxes of laptops up from reception"),
    ("reserved {n}", "parking spaces for visitors"),
    ("photographed {n}", "sticky notes after the workshop"),
    ("filed {n}", "expense receipts"),
    ("unpacked {n}", "monitors on the first day"),
    ("scheduled {n}", "coffee chats"),
    ("tidied {n}", "shelves in the supply room"),
    ("signed {n}", "birthday cards"),
    ("baked {n}", "batches of cookies for the demo day"),
    ("queued {n}", "songs for the team playlist"),
    ("changed {n}", "desktop wallpapers"),
    ("drafted {n}", "versions of the seating plan"),
)
_WHEN = (
    "",
    " on a Tuesday",
    " in {month}",
    " over {k} days",
    " in about {k} hours",
    " before the {k} o'clock stand-up",
    " during week {k}",
    " last {month}",
    " within {k} minutes",
    " that quarter",
    " on the {k}th floor",
    " after the all-hands",
)
_MONTHS = ("January", "March", "April", "May", "July", "August", "October", "November")
_EXTRAS = (
    "",
    "",
    " and it took {k} minutes",
    ", which was {k} more than the year before",
    " with {k} colleagues",
    ", roughly {k} per person",
    " for a total of {k}",
)


def filler_sentence(rng: random.Random) -> str:
    """One content-free, first-person, past-tense sentence with numbers."""
    verb, noun = rng.choice(_ACTIONS)
    subject = rng.choice(_SUBJECTS)

    def fill(template: str) -> str:
        return template.format(n=rng.randint(2, 400), k=rng.randint(2, 60), month=rng.choice(_MONTHS))

    return f"{subject} {fill(verb)} {noun}{fill(rng.choice(_WHEN))}{fill(rng.choice(_EXTRAS))}."


def filler_blocks(rng: random.Random, blocks: int, sizes: tuple[int, int] = (3, 8)) -> list[list[str]]:
    """`blocks` runs of filler sentences, each as an answer's worth (positions in an answer matter to
    the classifier's features)."""
    return [[filler_sentence(rng) for _ in range(rng.randint(*sizes))] for _ in range(blocks)]
