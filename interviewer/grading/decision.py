"""The decision, derived from the axis judgements at the candidate's level: the documented rule.

The corpus's "Quick Rubric (Calibrated)" defines each decision by the axes: Lean No Hire is "below bar
on one critical axis", No Hire is "multiple critical gaps or misaligned behaviours", Lean Hire is "near
bar; specific risks mitigable", Hire "meets bar with solid evidence; minor gaps acceptable", Strong
Hire "top 10% signal; operated at/above level with repeatable outcomes". The critical axes are the
ones the question tests (its profile). The rule, in order:

1. Misconduct: text addressed to the grader is No Hire. Not in English: Lean No Hire, not assessed.
2. A tested axis is a **gap** when it has no evidence or scores 2 or less.
   - no evidence on any axis at all (an empty or content-free answer): No Hire;
   - two or more gaps: No Hire;
   - one gap: Lean No Hire, or No Hire when the tested axes' mean (no evidence counting 0) is below
     `one_gap_no_hire_below`.
3. No gap (every tested axis at 3 or more): Lean Hire; Hire when the tested mean reaches the level's
   `hire_at`; Strong Hire when it reaches the level's `strong_at` and every tested axis is 4 or more.
   The bar rises with the level: a Director needs more than an EM for the same decision.
4. Caps, which only lower: a red flag is a specific risk, at most Lean Hire; for a story question a
   story missing two or more of its five elements is at most Lean No Hire (unless every tested axis is
   4 or more and no red flag is raised), one without its situation, action or result at most Lean Hire
   and one without a lasting change at most Hire; an answer that gives no assessable evidence (a
   keyword list, too short) at most Lean No Hire; a recited model answer at most Lean Hire.

Two invariants follow and are tested: never Hire or better while a tested axis is a gap, and never
Lean No Hire or worse while every tested axis is 4 or more and nothing is capped. The thresholds are
fitted on the dev set's train split (fitting.py) and stored in calibration.json; the rule itself is
the same for the offline engine and the LLM engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel

from interviewer.grading.rubric import DECISIONS, Decision, rubric

NO_HIRE, LEAN_NO_HIRE, LEAN_HIRE, HIRE, STRONG_HIRE = range(5)
DEFAULT_LEVEL = "Senior EM"
LEVEL_GROUPS = {"EM": "EM", "Senior EM": "Senior EM", "Director": "Director", "Associate Director": "Director"}
GAP_LEVEL = 2  # a tested axis at this level or below, or without evidence, is below bar
STRONG_LEVEL = 4
# STAR elements count only from sentences on this question, so an absent one may be told about another.
_UNTOLD = "a story question, and nothing said on this question gives"
STORY_MISSING_AT_MOST = 2  # a story missing this many of its five elements is at most Lean No Hire

# Guard flags that cap the decision, and the most each allows.
CAPS: dict[str, int] = {
    "keyword_list": LEAN_NO_HIRE,
    "too_short": LEAN_NO_HIRE,
    "verbatim_copy": LEAN_HIRE,
}
CAP_REASONS: dict[str, str] = {
    "possible_injection": "text addressed to the grader was removed; trying to steer the grade is misconduct: No Hire",
    "non_english": "not in English, the panel's language, so not assessed: Lean No Hire",
    "keyword_list": "a list of rubric terms rather than an account of what was done: at most Lean No Hire",
    "too_short": "too short to show evidence on any axis: at most Lean No Hire",
    "verbatim_copy": "recited from the prep material rather than told from experience: at most Lean Hire",
}


class DecisionRule(BaseModel):
    """The fitted thresholds of the rule (calibration.json)."""

    one_gap_no_hire_below: float
    hire_at: dict[str, float]  # per level group: tested mean at which the answer is Hire
    strong_at: dict[str, float]  # per level group: tested mean at which it is Strong Hire


@dataclass
class Verdict:
    decision: Decision
    uncapped: Decision  # what the axes alone give, before caps
    score: float  # 0 (No Hire) .. 4.99 (Strong Hire): the decision plus where it sits within it
    tested_mean: float
    gaps: list[str]  # tested axes below bar
    steps: list[str] = field(default_factory=list)  # the rule as applied, in words
    caps: list[str] = field(default_factory=list)  # why the decision was lowered, one line each

    @property
    def index(self) -> int:
        return DECISIONS.index(self.decision)


def level_group(level: str | None) -> str:
    return LEVEL_GROUPS.get(level or DEFAULT_LEVEL, LEVEL_GROUPS[DEFAULT_LEVEL])


def decide(
    scores: dict[str, int | None],
    tested: list[str],
    rule: DecisionRule,
    *,
    level: str | None = None,
    story: bool = False,
    star: Iterable[str] = (),
    red_flags: Iterable[str] = (),
    flags: Iterable[str] = (),
    raw: dict[str, float] | None = None,
) -> Verdict:
    """The decision for these axis scores at this level (see the module docstring for the rule)."""
    flags = set(flags)
    star = set(star)
    red_flags = list(red_flags)
    group = level_group(level)
    tested = tested or list(scores)
    values = [scores.get(a) for a in tested]
    mean = sum(v or 0 for v in values) / len(values)
    gaps = [a for a, v in zip(tested, values, strict=True) if v is None or v <= GAP_LEVEL]
    shown = ", ".join(f"{a} {scores.get(a) or 'no evidence'}" for a in tested)
    steps = [f"tested axes: {shown} (mean {mean:.2f})"]

    if gaps:
        if all(v is None for v in scores.values()):
            index = NO_HIRE
            steps.append("no evidence on any axis: nothing to assess, No Hire")
        elif len(gaps) >= 2:
            index = NO_HIRE
            steps.append(f"{len(gaps)} tested axes below bar ({', '.join(gaps)}): multiple critical gaps, No Hire")
        elif mean < rule.one_gap_no_hire_below:
            index = NO_HIRE
            steps.append(
                f"one tested axis below bar ({gaps[0]}) and a tested mean under {rule.one_gap_no_hire_below:.2f}: "
                "No Hire"
            )
        else:
            index = LEAN_NO_HIRE
            steps.append(f"one tested axis below bar ({gaps[0]}): Lean No Hire")
    else:
        index = LEAN_HIRE
        hire_at, strong_at = rule.hire_at[group], rule.strong_at[group]
        if mean >= strong_at and all(v is not None and v >= STRONG_LEVEL for v in values):
            index = STRONG_HIRE
            steps.append(f"every tested axis 4+ and mean {mean:.2f} ≥ {strong_at:.2f} (the {group} bar): Strong Hire")
        elif mean >= hire_at:
            index = HIRE
            steps.append(f"no tested axis below bar and mean {mean:.2f} ≥ {hire_at:.2f} (the {group} bar): Hire")
        else:
            steps.append(
                f"no tested axis below bar, mean {mean:.2f} under the {group} Hire bar {hire_at:.2f}: Lean Hire"
            )
    uncapped = index

    caps: list[str] = []

    def cap(most: int, why: str) -> None:
        nonlocal index
        if index > most:
            index = most
            caps.append(why)

    if "possible_injection" in flags:
        index = NO_HIRE
        caps.append(CAP_REASONS["possible_injection"])
    elif "non_english" in flags:
        index = LEAN_NO_HIRE
        caps.append(CAP_REASONS["non_english"])
    else:
        for flag, most in CAPS.items():
            if flag in flags:
                cap(most, CAP_REASONS[flag])
        if red_flags:
            cap(LEAN_HIRE, f"red flag ({', '.join(red_flags)}): a specific risk, at most Lean Hire")
        if story:
            missing = [e for e in ("situation", "action", "result") if e not in star]
            absent = [e.id for e in rubric().star if e.id not in star]
            at_bar = all(v is not None and v >= STRONG_LEVEL for v in values) and not red_flags
            if len(absent) >= STORY_MISSING_AT_MOST and not at_bar:
                # Chosen on the dev set's train split (normal answers: QWK 0.578 -> 0.603 with two, 0.588
                # with three); never below Lean Hire an answer whose every tested axis is 4+.
                cap(LEAN_NO_HIRE, f"{_UNTOLD} its {', '.join(absent)}: at most Lean No Hire")
            if missing:
                cap(LEAN_HIRE, f"{_UNTOLD} its {', '.join(missing)}: at most Lean Hire")
            elif "permanent_change" not in star:
                cap(HIRE, "a story question, and the story says nothing changed for good: at most Hire")

    # Within a decision, answers are ordered by their tested axes (continuous scores when there are).
    spread = raw if raw is not None else {a: float(v or 0) for a, v in scores.items()}
    within = sum(spread.get(a, 0.0) for a in tested) / len(tested)
    score = index + min(0.99, max(0.0, within / 5.0))
    return Verdict(
        decision=DECISIONS[index],
        uncapped=DECISIONS[uncapped],
        score=round(score, 4),
        tested_mean=round(mean, 4),
        gaps=gaps,
        steps=steps,
        caps=caps,
    )
