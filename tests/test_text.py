from interviewer.text import normalize_for_match, repair_text, slugify


def test_mojibake_is_repaired():
    assert repair_text("Leadership & Systemic â€” Interview") == "Leadership & Systemic — Interview"
    assert repair_text("Itâ€™s the wrong tool") == "It’s the wrong tool"
    assert repair_text("Team growth (30 â†’ 60 engineers)") == "Team growth (30 → 60 engineers)"


def test_correct_text_is_left_alone():
    correct = "It’s “fine” — naïve café, 10× growth, ≥ 4.0, 12–24 months ✅"
    assert repair_text(correct) == correct


def test_mixed_file_repairs_only_the_mojibake():
    mixed = "I’m in meetings. Itâ€™s low-code."
    assert repair_text(mixed) == "I’m in meetings. It’s low-code."


def test_truncated_sequences_whose_byte_was_lost_are_dropped():
    # "⏳" and "❌" lost a byte that Windows-1252 cannot represent; no garbage may remain.
    text = repair_text('| @eve | 2024-02-01 | â³ Planned |\n- âŒ Bad: "Why?"\nâ€” ok')
    assert "â" not in text and "⌠" not in text
    assert "Planned" in text and 'Bad: "Why?"' in text and "— ok" in text


def test_normalize_for_match_rules():
    assert normalize_for_match("**Hiring  Bar**\n“Quoted” it’s") == 'hiring bar "quoted" it\'s'
    assert normalize_for_match("Systemic â€” Interview") == normalize_for_match("systemic — interview")


def test_slugify_is_stable_ascii():
    assert slugify("Q1: Describe a time — how you evaluated") == "q1-describe-a-time-how-you-evaluated"
    assert slugify("!!!") == "section"
