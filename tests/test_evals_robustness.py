"""Generated attacks (`interviewer eval robustness`) and the corpus self-check (`eval corpus`).

The generators are checked for what makes them attacks worth running: many distinct, well-formed
variants from a seed, of the form each family claims. The grader is then attacked on a small fixed
sample of train-split answers (the split the grader is developed on; held-out is measured by the
command, see the README) and must meet the targets stated in robustness.py, or is marked xfail with
the figure it measured.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from interviewer.evals import attacks
from interviewer.evals.corpus_check import reference_decision
from interviewer.evals.grading import Item, OfflineGrader, load_items
from interviewer.evals.robustness import (
    FAMILIES,
    MAX_LOWERED_TWO,
    MAX_RAISED,
    POSITIONS,
    build_variants,
    is_strong,
    is_weak,
    place,
    run_robustness,
)
from interviewer.index import Index

runner = CliRunner()
DEV = Path(__file__).resolve().parent.parent / "evals" / "grader_dev.jsonl"
ANSWER = "We had an outage. I led the review. We added alerts and cut repeat incidents by half."
QUESTION = "How do you handle schema drift between producer teams and the analytics warehouse?"
DRAWS = 3000


def test_payload_positions():
    assert place(ANSWER, "PAYLOAD", "append").endswith("half.\n\nPAYLOAD")
    assert place(ANSWER, "PAYLOAD", "prefix").startswith("PAYLOAD\n\nWe had")
    middle = place(ANSWER, "PAYLOAD", "middle")
    assert "I led the review. PAYLOAD We added" in middle  # at the sentence break nearest the middle
    assert place("one two three", "X", "middle") in ("one X two three", "one two X three")
    with pytest.raises(ValueError):
        place(ANSWER, "X", "sideways")


def _well_formed(sentence: str) -> bool:
    """One sentence: a capital first, one full stop last, every slot filled, single spaces."""
    return bool(re.fullmatch(r"[A-Z][^{}\n]*[^.\s]\.", sentence)) and "  " not in sentence


def test_padding_is_thousands_of_first_person_past_tense_sentences_with_numbers():
    assert len(attacks.PADDING_TEMPLATES) >= 30
    rng = random.Random(7)
    drawn = [attacks.padding_sentence(rng) for _ in range(DRAWS)]
    assert len(set(drawn)) >= 0.9 * DRAWS  # composed, not picked from a list
    for s in drawn:
        assert _well_formed(s), s
        assert re.match(r"(I|We|Our) ", s), s  # first person
        assert re.search(r"\d", s), s  # numbers and units, the look of evidence
    # Every template is used, and its main verb is in the past tense.
    used = {t for t in attacks.PADDING_TEMPLATES if any(_matches(t, s) for s in drawn)}
    assert used == set(attacks.PADDING_TEMPLATES)
    for template in attacks.PADDING_TEMPLATES:
        verb = template.split()[1] if template.startswith(("I ", "We ")) else template.split()[2]
        assert verb.endswith("ed") or verb in _IRREGULAR_PAST, template


_IRREGULAR_PAST = {"held", "sent", "met", "wrote", "spent", "ran", "had", "kept", "took", "drew", "drank", "read"}


def _matches(template: str, sentence: str) -> bool:
    pattern = re.escape(template)
    pattern = re.sub(r"\\\{\w+\\\}", ".+?", pattern)
    return re.fullmatch(pattern, sentence) is not None


def test_platitudes_are_built_from_the_question_s_own_words():
    topics = attacks.question_topics(QUESTION)
    assert "schema drift" in topics and "analytics warehouse" in topics
    assert not {"how", "you", "the", "between"} & set(topics)
    rng = random.Random(11)
    drawn = [attacks.platitude_sentence(rng, QUESTION) for _ in range(500)]
    assert len(set(drawn)) == len(topics) * len(attacks.PLATITUDE_TEMPLATES)  # every topic in every frame
    for s in drawn:
        assert _well_formed(s), s
        assert any(t in s.lower() for t in topics), s
        assert not re.search(r"\d", s)  # claims, no facts
    # A different question gives different platitudes: they are made from it.
    other = [attacks.platitude_sentence(random.Random(11), "How do you grow senior engineers into tech leads?")]
    assert not any("schema" in s for s in other)


def test_buzzword_padding_is_prose_not_a_term_list():
    from interviewer.grading import guards
    from interviewer.grading.evidence import all_terms_matcher

    terms = attacks.rubric_terms()
    assert len(terms) >= 50
    rng = random.Random(5)
    drawn = [attacks.buzzword_sentence(rng, terms) for _ in range(DRAWS)]
    assert len(set(drawn)) >= 0.9 * DRAWS
    pool = {*attacks.BUZZWORDS, *terms}
    for s in drawn[:300]:
        assert _well_formed(s), s
        assert sum(1 for t in pool if t in s) >= 2, s
        # A sentence, so the grader's term-list guard cannot simply drop it: the grader must judge it.
        form = guards.measure_form(s, sentences=1)
        assert not guards.is_term_list(form, len(all_terms_matcher().distinct(s))), s


def test_sentences_are_distinct_and_counted():
    rng = random.Random(2)
    text = attacks.sentences(lambda: attacks.padding_sentence(rng), 8)
    parts = attacks.split_sentences(text)
    assert len(parts) == 8 == len(set(parts))


def test_interleave_keeps_every_strong_sentence_in_order():
    strong = "I found the cost driver. I priced three options. We cut the bill by 40% in a quarter."
    rng = random.Random(3)
    mixed = attacks.interleave(strong, lambda: attacks.padding_sentence(rng))
    parts = attacks.split_sentences(mixed)
    assert parts[0::2] == attacks.split_sentences(strong)
    assert all(re.search(r"\d", p) for p in parts[1::2])  # a filler sentence after each one


def _items(split: str) -> list[Item]:
    items, problems = load_items(DEV)
    assert not problems
    return [i for i in items if i.split == split]


def test_neighbours_are_strong_answers_to_another_question(corpus_index: Index):
    items = _items("train")
    weak = [i for i in items if is_weak(i)][:6]
    pool = [i for i in items if is_strong(i)]
    sources = [attacks.Source(i.id, i.question, i.answer) for i in pool]
    found = attacks.nearest_neighbours([i.question for i in weak], sources)
    for item in weak:
        near = found[item.question]
        assert near is not None and near.question != item.question
        assert near.id in {i.id for i in pool}
        excerpt = attacks.neighbour_excerpt(random.Random(1), near.answer, 3)
        parts = attacks.split_sentences(near.answer)
        assert excerpt in " ".join(parts) and len(attacks.split_sentences(excerpt)) == min(3, len(parts))


def test_variants_come_from_the_seed(corpus_index: Index):
    items = _items("train")
    weak, strong = [i for i in items if is_weak(i)][:2], [i for i in items if is_strong(i)][:1]
    pool = [i for i in items if is_strong(i)]
    a, b = build_variants(weak, strong, pool, 1), build_variants(weak, strong, pool, 1)
    c = build_variants(weak, strong, pool, 2)
    assert [v.text for v in a] == [v.text for v in b]
    generated = {"padding", "platitude", "buzzword", "interleave"}
    differ = [x.text != y.text for x, y in zip(a, c, strict=True) if x.family in generated]
    assert all(differ)
    per_weak = 4 * len(POSITIONS) + 2  # four placed families, whole neighbour, substitution
    assert len(a) == per_weak * len(weak) + 2 * len(strong)
    assert {v.family for v in a} == {f.name for f in FAMILIES}
    for v in a:
        if v.family != "neighbour_substitute":
            kept = v.item.answer.strip()
            assert kept in v.text or all(s in v.text for s in attacks.split_sentences(kept)), v.family


# --- the grader under attack, on a small fixed sample -----------------------------------------------

SAMPLE_WEAK = 6
SAMPLE_STRONG = 4
SEED = 20261202


@pytest.fixture(scope="module")
def attacked(corpus_index: Index) -> dict[str, Any]:
    from interviewer.grading import warm_up

    warm_up(corpus_index)
    items = _items("train")
    rng = random.Random(SEED)
    weak = rng.sample([i for i in items if is_weak(i)], SAMPLE_WEAK)
    pool = [i for i in items if is_strong(i)]
    strong = rng.sample(pool, SAMPLE_STRONG)
    summary = run_robustness([*weak, *strong], OfflineGrader(corpus_index), "offline", seed=SEED, pool=pool)
    print(
        json.dumps(
            {k: {m: v[m] for m in ("raised", "raised_two", "lowered_two")} for k, v in summary["families"].items()}
        )
    )
    return summary


# Measured on this sample (seed above) with the grader on this branch; a family that misses is an
# honest xfail carrying its figure, strict so that a fix shows up.
MISSES: dict[str, str] = {
    # padding meets its target on this sample since the padding negatives (0 of 18; held-out 3.6%, 1.2% by two)
    "platitude": "measured on this sample: raised 1 of 18 (5.6% > 5%); held-out 10.1%, 3.0% by two",
    "buzzword": "measured on this sample: raised 1 of 18 (5.6% > 5%); held-out 7.7%, 1.2% by two",
    "neighbour_sentences": "measured on this sample: raised 13 of 18, 2 by two levels; held-out 44.6%, 11.3% by two",
    "neighbour_whole": "measured on this sample: raised 5 of 6, 3 by two levels; held-out 73.2%, 42.9% by two",
    "neighbour_substitute": "measured on this sample: raised 4 of 6, 2 by two levels; held-out 78.6%, 37.5% by two",
}


@pytest.mark.parametrize(
    "family",
    [
        pytest.param(f.name, marks=pytest.mark.xfail(strict=True, reason=MISSES[f.name]))
        if f.name in MISSES
        else f.name
        for f in FAMILIES
    ],
)
def test_attack_meets_its_target_on_a_sample(attacked: dict[str, Any], family: str):
    row = attacked["families"][family]
    assert row["variants"] > 0
    if row["direction"] == "raise":
        assert row["raised"]["value"] <= MAX_RAISED, row["raised"]
        assert row["raised_two"]["count"] == 0, row["raised_two"]
    else:
        assert row["lowered_two"]["value"] <= MAX_LOWERED_TWO, row["lowered_two"]


def test_robustness_command_writes_a_summary_with_targets(eval_cli: typer.Typer, tmp_path: Path):
    answers = tmp_path / "answers.jsonl"
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line]
    train = [r for r in rows if r["split"] == "train" and r["kind"] == "normal"]
    chosen = [next(r for r in train if r["label"] == "No Hire"), *[r for r in train if r["label"] == "Strong Hire"][:3]]
    chosen.append({**next(r for r in rows if r["split"] == "heldout" and r["label"] == "No Hire"), "id": "h"})
    answers.write_text("\n".join(json.dumps(r) for r in chosen) + "\n")
    out = tmp_path / "run"
    args = ["eval", "robustness", str(answers), "--split", "train", "--seed", "3", "--limit", "1", "--out", str(out)]
    result = runner.invoke(eval_cli, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["weak_answers"] == 1 and summary["strong_answers"] == 1  # --limit; the heldout line is out
    assert summary["seed"] == 3 and summary["split"] == "train"
    assert set(summary["families"]) == {f.name for f in FAMILIES}
    for row in summary["families"].values():
        assert row["variants"] > 0 and 0 <= row["raised"]["count"] <= row["raised"]["of"] == row["variants"]
    assert "5%" in summary["targets"]["raise_attacks"]
    report = (out / "summary.md").read_text(encoding="utf-8")
    assert "| padding |" in report and "Targets:" in report and "seed 3" in report
    assert "targets:" in result.stdout  # the table's own "target met" header may wrap in a narrow terminal


def test_robustness_command_rejects_an_unknown_split(eval_cli: typer.Typer):
    result = runner.invoke(eval_cli, ["eval", "robustness", str(DEV), "--split", "test"])
    assert result.exit_code != 0 and "not one of" in result.output


def test_reference_decision_sets_aside_only_the_recitation_cap():
    assert reference_decision("Lean Hire", "Strong Hire", ["verbatim_copy"]) == "Strong Hire"
    assert reference_decision("Lean No Hire", "Hire", ["verbatim_copy", "too_short"]) == "Lean No Hire"
    assert reference_decision("Lean Hire", "Lean Hire", []) == "Lean Hire"


def test_corpus_check_lists_model_answers_below_hire(eval_cli: typer.Typer):
    result = runner.invoke(eval_cli, ["eval", "corpus", "--track", "leadership", "--limit", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["questions"] == 2 and report["graded"] == 2 and not report["errors"]
    assert report["reach_hire"] + len(report["weak"]) == 2
    for row in report["all"]:
        assert row["source"] == "leadership-systemic-qa.md" and row["words"] > 0
        assert "verbatim_copy" not in row["flags"]
        assert row["reaches_hire"] == (row["decision"] in ("Hire", "Strong Hire"))
    table = runner.invoke(eval_cli, ["eval", "corpus", "--track", "leadership", "--limit", "1"])
    assert table.exit_code == 0 and "model answers reach Hire" in table.stdout
