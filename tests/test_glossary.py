"""The domain glossary: phrase matching, both expansion directions, and that it was not written from the eval set."""

import json
import random
from pathlib import Path

from interviewer.glossary import Entry, Glossary, glossary, stems

DEV = Path(__file__).parent.parent / "evals" / "retrieval_dev.jsonl"
# Phrases the issue itself gives as the glossary's examples (RPO/RTO, showback, KTLO): allowed to
# appear in queries too; every other multi-word plain phrase must not occur in the dev set.
ISSUE_PHRASES = {"data loss", "lose data", "be down", "downtime", "cost visible", "cost per team"}
ISSUE_PHRASES |= {"keep the lights on", "keeping the lights on"}


def test_no_plain_phrase_is_lifted_from_the_retrieval_dev_set():
    queries = [" " + " ".join(stems(json.loads(line)["query"])) + " " for line in DEV.read_text().splitlines()]
    lifted = [
        p
        for e in glossary().entries
        for p in e.plain
        if len(p.split()) > 1 and p not in ISSUE_PHRASES and any(f" {' '.join(stems(p))} " in q for q in queries)
    ]
    assert lifted == []


def test_every_entry_has_terms_and_plain_words_and_its_terms_are_the_corpus_own():
    from interviewer.settings import BUNDLED_CORPUS_DIR

    corpus = " ".join(stems(" ".join(p.read_text(encoding="utf-8") for p in BUNDLED_CORPUS_DIR.glob("*.md"))))
    for entry in glossary().entries:
        assert entry.terms and entry.plain
        # At least one term of each entry is vocabulary the corpus uses (the glossary is its vocabulary).
        assert any(f" {' '.join(stems(t))} " in f" {corpus} " for t in entry.terms), entry.terms


def test_phrases_match_in_order_with_small_gaps_and_stemming():
    g = Glossary([Entry(("RPO",), ("lose data",))])
    rng = random.Random(7)
    fillers = ["some", "of the", "our", "any"]
    for _ in range(50):
        gap = " ".join(rng.sample(fillers, rng.randint(0, 1)))
        verb = rng.choice(["lose", "losing", "loses"])
        query = f"how much could we {verb} {gap} data".replace("  ", " ")
        assert g.expand_query(query).endswith(" RPO"), query
    assert g.expand_query("data we lose") == "data we lose"  # out of order
    assert g.expand_query("lose a lot of our customer data") == "lose a lot of our customer data"  # gap of 5
    assert g.expand_query("what is our RPO if we lose data") == "what is our RPO if we lose data"  # term already said


def test_passages_get_the_plain_words_of_the_terms_they_use():
    g = glossary()
    expanded = g.expand_passage("Showback per pipeline and a KTLO budget")
    assert "cost per team" in expanded and "keep the lights on" in expanded
    assert g.expand_passage("nothing specific here at all") == "nothing specific here at all"
