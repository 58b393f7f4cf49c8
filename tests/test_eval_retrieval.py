from pathlib import Path

from interviewer.evals.retrieval import RetrievalCase, evaluate, is_relevant, load_cases
from interviewer.index import Hit, Index


def hit(heading: str, text: str) -> Hit:
    return Hit(id="d#x:0", source="d", track="t", kind="guidance", heading=heading, text=text, score=1.0)


def test_relevance_matching_rules():
    case = RetrievalCase("1", "q", "Hiring Bar", None)
    assert is_relevant(hit('Prep > **"Hiring  bar"**', "..."), case)
    assert is_relevant(hit("Prep", "**Hiring bar** first line\nmore"), case)  # first line counts
    assert not is_relevant(hit("Prep", "intro\nHiring bar in a later line"), case)
    snippet = RetrievalCase("2", "q", None, "it’s the wrong  tool")
    assert is_relevant(hit("h", "If it takes >10 mins, Itâ€™s the **wrong tool**."), snippet)
    assert not is_relevant(hit("h", "the right tool"), snippet)


def test_load_cases_reports_bad_lines_and_ignores_unknown_fields(tmp_path: Path):
    f = tmp_path / "dev.jsonl"
    f.write_text(
        '{"id": "a", "query": "q1", "expected_heading": "H", "extra": 1}\n'
        "not json\n"
        '{"id": "b", "query": "q2"}\n'
        "\n"
        '{"id": "c", "query": "q3", "answer_snippet": "s"}\n'
    )
    cases, problems = load_cases(f)
    assert [c.id for c in cases] == ["a", "c"]
    assert len(problems) == 2 and problems[0].startswith("line 2") and problems[1].startswith("line 3")


def test_evaluate_reports_all_three_retrievers(corpus_index: Index):
    cases = [
        RetrievalCase(
            "1", "How do you cope with a team member who keeps missing expectations?", "underperforming", None
        ),
        RetrievalCase("2", "zzzz qqqq", "no such heading anywhere", None),
    ]
    result = evaluate(corpus_index, cases)
    assert result["cases"] == 2
    for mode in ("bm25", "dense", "hybrid"):
        m = result["metrics"][mode]
        assert 0.0 <= m["recall@1"] <= m["recall@5"] <= 0.5  # the nonsense query is never found
    assert result["metrics"]["hybrid"]["recall@5"] == 0.5
    assert result["per_case"][1]["hybrid"] is None


def test_dev_set_split_is_the_hash_rule_by_passage():
    """The committed split is exactly split_for(doc, heading): by passage, not by query, ~35% held out."""
    from collections import Counter

    from interviewer.evals.retrieval import split_for

    cases, problems = load_cases(Path(__file__).parent.parent / "evals" / "retrieval_dev.jsonl")
    assert not problems and len(cases) >= 130
    passages: dict[tuple[str, str], str] = {}
    for case in cases:
        assert case.doc and case.expected_heading and case.split
        assert case.split == split_for(case.doc, case.expected_heading), case.id
        passages[(case.doc, case.expected_heading)] = case.split
    share = Counter(passages.values())["heldout"] / len(passages)
    assert 0.25 <= share <= 0.45
    docs = {doc for doc, _ in passages}
    assert len(docs) == 5
    for doc in docs:  # every corpus document is measured on held-out passages
        assert any(s == "heldout" for (d, _), s in passages.items() if d == doc)


def test_eval_retrieval_cli_split_per_document_and_misses(eval_cli, tmp_path: Path):
    import json

    from typer.testing import CliRunner

    rows = [
        {
            "id": "t1",
            "query": "How do you run blameless postmortems?",
            "expected_heading": "Q4: How do you run incident reviews",
            "doc": "leadership-systemic-qa.md",
            "split": "train",
        },
        {
            "id": "h1",
            "query": "zzzz qqqq",
            "expected_heading": "no such heading anywhere",
            "doc": "atlassian-star-stories.md",
            "split": "heldout",
        },
        {
            "id": "h2",
            "query": "What is your RPO/RTO strategy?",
            "expected_heading": "RPO/RTO strategy",
            "doc": "azure-databricks-associate-director.md",
            "split": "heldout",
        },
    ]
    dev = tmp_path / "dev.jsonl"
    dev.write_text("\n".join(json.dumps(r) for r in rows) + '\n{"id": "bad", "query": "q", "split": "later"}\n')
    runner = CliRunner()
    result = runner.invoke(eval_cli, ["eval", "retrieval", str(dev), "--split", "heldout", "--misses"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "2 queries from dev.jsonl (split: heldout)" in out
    assert "skipped line 4" in out  # an unknown split is a clear message, not a silent default
    for mode in ("bm25", "dense", "heading", "question", "hybrid"):
        assert mode in out
    assert "Per document" in out and "atlassian-star-stories.md" in out and "leadership-systemic-qa.md" not in out
    assert "miss h1 (atlassian-star-stories.md): zzzz qqqq" in out and "miss h2" not in out
    data = json.loads(runner.invoke(eval_cli, ["eval", "retrieval", str(dev), "--split", "train", "--json"]).stdout)
    assert (
        data["cases"] == 1 and data["split"] == "train" and set(data["per_document"]) == {"leadership-systemic-qa.md"}
    )
    assert data["per_document"]["leadership-systemic-qa.md"]["hybrid"]["recall@5"] == 1.0
    bad = runner.invoke(eval_cli, ["eval", "retrieval", str(dev), "--split", "test"])
    assert bad.exit_code != 0 and "split must be one of" in " ".join(bad.output.split())
