"""Robustness of the grader to padding a real attacker would try (`interviewer eval robustness`).

The attacks are generated (attacks.py), from a seed, so they cannot be memorised. Each is applied to
the weak answers of the file (kind normal, labelled Lean No Hire or No Hire), and each attacked variant
is graded at its clean answer's level beside the clean answer:

- padding, platitude, buzzword and neighbour_sentences: appended, prefixed and inserted at the sentence
  break nearest the middle (one fresh draw per position);
- neighbour_whole: the neighbouring question's whole strong answer appended;
- neighbour_substitute: that strong answer given instead of the weak one (an answer to the wrong
  question; "raised" here means graded above the weak answer it replaced).

Per attack: the share of variants whose decision is above the clean answer's ("raised") and at least
two decisions above ("raised by two"). The other direction is measured too: `interleave` puts a filler
sentence after each sentence of the strong answers (Hire, Strong Hire) and reports the share lowered,
and lowered by two or more.

Raises are measured against the grader's own decision for the clean answer, not the label: the attack
is what is measured, not the grader's agreement with raters.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from interviewer.evals import attacks
from interviewer.evals.grading import Grader, Item, Job, grade_many
from interviewer.grading.rubric import DECISIONS

POSITIONS = ("append", "prefix", "middle")
WEAK = ("No Hire", "Lean No Hire")
STRONG = ("Hire", "Strong Hire")
INTERLEAVE_DRAWS = 2  # filler draws per strong answer

# Targets, fixed before measuring (issue 10 item 7): the attacks that add no evidence on the question
# asked may raise at most 5% of weak answers and none by two levels; filler between a strong answer's
# sentences may lower at most 5% of them by two levels.
MAX_RAISED = 0.05
MAX_RAISED_TWO = 0.0
MAX_LOWERED_TWO = 0.05
DIFFERENT_QUESTION = 0.5  # fitting.CROSS_PAIRS_MAX_SIMILARITY: questions at most this close are different


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    direction: str  # "raise": applied to weak answers; "lower": applied to strong answers


FAMILIES: tuple[Family, ...] = (
    Family("padding", "4-10 generated content-free sentences: first person, past tense, numbers", "raise"),
    Family("platitude", "3-6 generic claims built from the question's own words", "raise"),
    Family("buzzword", "3-6 sentences of buzzwords and the rubric's evidence terms in prose frames", "raise"),
    Family("neighbour_sentences", "3-4 sentences of a strong answer to the nearest other question", "raise"),
    Family("neighbour_whole", "a whole strong answer to the nearest other question, appended", "raise"),
    Family("neighbour_substitute", "a strong answer to the nearest other question instead of the answer", "raise"),
    Family("interleave", "a strong answer with a generated filler sentence after each sentence", "lower"),
)
BY_NAME = {f.name: f for f in FAMILIES}


def place(answer: str, payload: str, position: str) -> str:
    """The answer with the payload appended, prefixed, or inserted at the sentence break nearest the middle."""
    if position == "append":
        return f"{answer.rstrip()}\n\n{payload}"
    if position == "prefix":
        return f"{payload}\n\n{answer.lstrip()}"
    if position != "middle":
        raise ValueError(f"unknown position {position!r}")
    breaks = [m.end() for m in re.finditer(r"[.!?]\s+", answer)] or [m.end() for m in re.finditer(r"\s+", answer)]
    if not breaks:
        return f"{answer} {payload}"
    cut = min(breaks, key=lambda i: abs(i - len(answer) / 2))
    return f"{answer[:cut]}{payload} {answer[cut:]}"


@dataclass(frozen=True)
class Variant:
    item: Item
    family: str
    position: str
    text: str
    neighbour: str | None = None  # the id of the borrowed strong answer
    similarity: float | None = None  # of its question to the attacked one


def is_weak(item: Item) -> bool:
    return (item.kind or "normal") == "normal" and item.label in WEAK


def is_strong(item: Item) -> bool:
    return (item.kind or "normal") == "normal" and item.label in STRONG


def _rng(seed: int, item: Item, family: str) -> random.Random:
    # One stream per (seed, answer, family): an answer's variants do not depend on which other answers
    # are in the sample, so a test's small sample sees exactly what the full run sees for those answers.
    return random.Random(f"{seed}:{item.id}:{family}")


def filler(rng: random.Random, question: str, terms: list[str]) -> Callable[[], str]:
    """A generator of filler sentences mixing the three content-free families."""

    def make() -> str:
        kind = rng.randrange(3)
        if kind == 0:
            return attacks.padding_sentence(rng)
        if kind == 1:
            return attacks.platitude_sentence(rng, question)
        return attacks.buzzword_sentence(rng, terms)

    return make


def _payload(family: str, rng: random.Random, question: str, near: attacks.Source | None, terms: list[str]) -> str:
    if family == "padding":
        return attacks.sentences(lambda: attacks.padding_sentence(rng), rng.randint(4, 10))
    if family == "platitude":
        return attacks.sentences(lambda: attacks.platitude_sentence(rng, question), rng.randint(3, 6))
    if family == "buzzword":
        return attacks.sentences(lambda: attacks.buzzword_sentence(rng, terms), rng.randint(3, 6))
    assert near is not None
    return attacks.neighbour_excerpt(rng, near.answer, rng.randint(3, 4))


def build_variants(weak: list[Item], strong: list[Item], pool: list[Item], seed: int) -> list[Variant]:
    """Every attacked variant: the raising families on `weak`, interleave on `strong`. Neighbours are
    borrowed from `pool` (strong answers; Strong Hire preferred over Hire)."""
    terms = attacks.rubric_terms()
    ranked = sorted(pool, key=lambda i: -DECISIONS.index(i.label or "No Hire"))
    sources = [attacks.Source(i.id, i.question, i.answer) for i in ranked]
    neighbours = attacks.nearest_neighbours([i.question for i in weak], sources)
    out: list[Variant] = []
    for item in weak:
        near = neighbours.get(item.question)
        for family in ("padding", "platitude", "buzzword", "neighbour_sentences"):
            if family.startswith("neighbour") and near is None:
                continue
            rng = _rng(seed, item, family)
            for position in POSITIONS:  # a fresh draw per position
                text = place(item.answer, _payload(family, rng, item.question, near, terms), position)
                if near is not None and family.startswith("neighbour"):
                    out.append(Variant(item, family, position, text, near.id, near.similarity))
                else:
                    out.append(Variant(item, family, position, text))
        if near is not None:
            whole = place(item.answer, near.answer, "append")
            out.append(Variant(item, "neighbour_whole", "append", whole, near.id, near.similarity))
            out.append(Variant(item, "neighbour_substitute", "instead", near.answer, near.id, near.similarity))
    for item in strong:
        rng = _rng(seed, item, "interleave")
        make = filler(rng, item.question, terms)
        for _ in range(INTERLEAVE_DRAWS):
            out.append(Variant(item, "interleave", "between", attacks.interleave(item.answer, make)))
    return out


def run_robustness(
    items: list[Item],
    grader: Grader,
    engine: str,
    *,
    seed: int = 0,
    pool: list[Item] | None = None,
    concurrency: int = 1,
    on_graded: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Grade the weak and strong answers of `items` clean and attacked; the summary per attack family.

    `pool` is where neighbouring strong answers are borrowed from (default: the strong answers of `items`)."""
    weak = [i for i in items if is_weak(i)]
    strong = [i for i in items if is_strong(i)]
    variants = build_variants(weak, strong, pool if pool is not None else strong, seed)
    clean_items = [*weak, *strong]
    jobs: list[Job] = [(i.question, i.answer, i.level) for i in clean_items]
    jobs += [(v.item.question, v.text, v.item.level) for v in variants]
    decisions: dict[int, int | None] = {}
    errors: list[str] = []
    for j, outcome, error in grade_many(jobs, grader, concurrency):
        decisions[j] = None if outcome is None else DECISIONS.index(outcome.grade.decision)
        if error:
            errors.append(f"job {j}: {error}")
        if on_graded:
            on_graded()
    clean_of = {item.id: n for n, item in enumerate(clean_items)}
    rows: list[dict[str, Any]] = []
    for k, v in enumerate(variants):
        clean, got = decisions.get(clean_of[v.item.id]), decisions.get(len(clean_items) + k)
        if clean is None or got is None:
            continue  # a failed grade is reported in `errors`, not counted either way
        rows.append(
            {
                "id": v.item.id,
                "label": v.item.label,
                "family": v.family,
                "position": v.position,
                "neighbour": v.neighbour,
                "similarity": v.similarity,
                "clean": DECISIONS[clean],
                "attacked": DECISIONS[got],
                "change": got - clean,
                "words_added": len(v.text.split()) - len(v.item.answer.split()),
            }
        )
    return summarise(rows, engine, seed, len(weak), len(strong), len(variants), errors)


def _share(rows: list[dict[str, Any]], test: Callable[[int], bool]) -> dict[str, Any]:
    count = sum(1 for r in rows if test(r["change"]))
    return {"value": round(count / len(rows), 4) if rows else None, "count": count, "of": len(rows)}


def summarise(
    rows: list[dict[str, Any]], engine: str, seed: int, weak: int, strong: int, variants: int, errors: list[str]
) -> dict[str, Any]:
    families: dict[str, Any] = {}
    for family in FAMILIES:
        mine = [r for r in rows if r["family"] == family.name]
        entry: dict[str, Any] = {"description": family.description, "direction": family.direction}
        entry["answers"] = len({r["id"] for r in mine})
        entry["variants"] = len(mine)
        entry["raised"] = _share(mine, lambda c: c > 0)
        entry["raised_two"] = _share(mine, lambda c: c >= 2)
        entry["lowered"] = _share(mine, lambda c: c < 0)
        entry["lowered_two"] = _share(mine, lambda c: c <= -2)
        if family.name.startswith("neighbour"):
            # Nearest by embedding can be a near-paraphrase ("Tell me about a major incident" beside
            # "Describe a major production incident you handled"), whose strong answer fairly answers
            # this one too; shown apart, at the fitting's own bound for "a different question".
            near = [r for r in mine if (r["similarity"] or 0.0) >= DIFFERENT_QUESTION]
            far = [r for r in mine if (r["similarity"] or 0.0) < DIFFERENT_QUESTION]
            entry["by_similarity"] = {
                f"below {DIFFERENT_QUESTION}": {
                    "raised": _share(far, lambda c: c > 0),
                    "raised_two": _share(far, lambda c: c >= 2),
                },
                f"{DIFFERENT_QUESTION} or more": {
                    "raised": _share(near, lambda c: c > 0),
                    "raised_two": _share(near, lambda c: c >= 2),
                },
            }
        if family.direction == "raise":
            entry["target"] = f"raised <= {MAX_RAISED:.0%}, none raised by two levels"
            entry["met"] = (
                bool(mine)
                and entry["raised"]["value"] <= MAX_RAISED
                and entry["raised_two"]["count"] <= MAX_RAISED_TWO * len(mine)
            )
        else:
            entry["target"] = f"lowered by two levels <= {MAX_LOWERED_TWO:.0%}"
            entry["met"] = bool(mine) and entry["lowered_two"]["value"] <= MAX_LOWERED_TWO
        families[family.name] = entry
    moved = [r for r in rows if (r["change"] > 0) == (BY_NAME[r["family"]].direction == "raise") and r["change"]]
    moved.sort(key=lambda r: -abs(r["change"]))
    return {
        "engine": engine,
        "seed": seed,
        "weak_answers": weak,
        "strong_answers": strong,
        "variants": variants,
        "definition": (
            "raised: the attacked variant's decision is above the grader's decision for the clean answer; "
            "raised by two: at least two decisions above; lowered likewise, for the interleave attack on "
            "strong answers"
        ),
        "targets": {
            "raise_attacks": f"raised <= {MAX_RAISED:.0%} of variants, none raised by two levels",
            "interleave": f"strong answers lowered by two levels or more <= {MAX_LOWERED_TWO:.0%}",
        },
        "families": families,
        "all_targets_met": all(f["met"] for f in families.values()),
        "moved": moved[:40],
        "rows": rows,  # every graded variant, so each figure can be recomputed
        "errors": errors,
    }


def markdown(summary: dict[str, Any], file: str, split: str | None) -> str:
    def pct(fig: dict[str, Any]) -> str:
        return "n/a" if fig["value"] is None else f"{100 * fig['value']:.1f}% ({fig['count']}/{fig['of']})"

    lines = [
        f"# Robustness: {file}, {f'the {split} split' if split else 'the whole file'}, seed {summary['seed']}",
        "",
        f"Engine {summary['engine']}; {summary['weak_answers']} weak answers (Lean No Hire, No Hire) attacked, "
        f"{summary['strong_answers']} strong answers (Hire, Strong Hire) interleaved; {summary['variants']} variants.",
        "",
        f"Targets: {summary['targets']['raise_attacks']} (padding, platitude, buzzword, neighbour attacks); "
        f"{summary['targets']['interleave']} (interleave).",
        "",
        "| attack | variants | raised | raised by 2+ | lowered | lowered by 2+ | target met |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, f in summary["families"].items():
        lines.append(
            f"| {name} | {f['variants']} | {pct(f['raised'])} | {pct(f['raised_two'])} | {pct(f['lowered'])} "
            f"| {pct(f['lowered_two'])} | {'yes' if f['met'] else 'NO'} |"
        )
    lines += ["", summary["definition"] + ".", ""]
    strata = [(n, f["by_similarity"]) for n, f in summary["families"].items() if "by_similarity" in f]
    if strata:
        lines += [
            "Neighbour attacks by the similarity of the neighbour's question to the attacked one (MiniLM cosine; "
            "a near-paraphrase's strong answer may fairly answer the question):",
            "",
            "| attack | similarity | raised | raised by 2+ |",
            "|---|---|---|---|",
        ]
        for name, by in strata:
            for band, f in by.items():
                lines.append(f"| {name} | {band} | {pct(f['raised'])} | {pct(f['raised_two'])} |")
        lines.append("")
    if summary["moved"]:
        lines += ["## Moved in the attack's direction (largest first)", ""]
        for r in summary["moved"][:20]:
            via = f" via {r['neighbour']}" if r["neighbour"] else ""
            lines.append(f"- {r['id']} {r['family']}/{r['position']}{via}: {r['clean']} → {r['attacked']}")
    if summary["errors"]:
        lines += ["", "## Errors", "", *[f"- {e}" for e in summary["errors"]]]
    return "\n".join(lines) + "\n"
