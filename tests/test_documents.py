from pathlib import Path

import pytest

from interviewer.chunks import chunk_document
from interviewer.documents import DocumentError, decode_document, parse_document, read_document_bytes

SAMPLE = """# Prep Notes

Intro paragraph.

---

!!! success "Quick Rubric"
    | Decision | Definition |
    |----------|-----------|
    | **Hire** | Meets bar |

!!! danger "Example 4 — No Hire (Director)"

- **Decision**: No Hire

**Summary**

Tool-first answers.

!!! quote "Key Insight"
    "If you can't explain your unit economics, you don't control your system."

**Evidence**

- Could not tie freshness to value

---

## Question Bank

### Platform

**"Design ingestion at 10× scale"**
- **Testing**: Do you separate control from compute
- **Answer**: Control plane first

```python
def f():

    return 1
```
"""


def parse(text: str, name: str = "notes.md"):
    return parse_document(name, Path(name), text.encode("utf-8"))


def test_admonitions_become_titled_sections():
    doc = parse(SAMPLE)
    titles = {s.title: s for s in doc.sections}
    rubric = titles["Quick Rubric"]
    assert rubric.admonition == "success"
    assert rubric.path == ("Prep Notes", "Quick Rubric")
    assert "| **Hire** | Meets bar |" in rubric.body  # body dedented, table intact
    # An admonition with no indented body titles the unindented content that follows it.
    example = titles["Example 4 — No Hire (Director)"]
    assert "- **Decision**: No Hire" in example.body
    # A nested admonition closes when its indented body ends: Evidence belongs to the example.
    evidence = titles["Evidence"]
    assert evidence.pseudo and evidence.path == ("Prep Notes", "Example 4 — No Hire (Director)", "Evidence")


def test_rule_closes_the_chapter_and_headings_nest():
    doc = parse(SAMPLE)
    platform = next(s for s in doc.sections if s.title == "Platform")
    assert platform.path == ("Prep Notes", "Question Bank", "Platform")
    prompt = next(s for s in doc.sections if s.title.startswith('"Design ingestion'))
    assert prompt.pseudo and prompt.path[:-1] == platform.path


def test_tables_and_code_blocks_stay_whole_in_chunks():
    doc = parse(SAMPLE)
    chunks = chunk_document(doc, "t", set(), max_chars=60)  # tiny limit forces splitting
    table = [c for c in chunks if "| Decision |" in c.text]
    assert len(table) == 1 and "| **Hire** | Meets bar |" in table[0].text
    code = [c for c in chunks if "def f():" in c.text]
    assert len(code) == 1 and "return 1" in code[0].text and code[0].text.count("```") == 2


def test_chunk_ids_are_stable_and_unique():
    first = chunk_document(parse(SAMPLE), "t", set())
    second = chunk_document(parse(SAMPLE), "t", set())
    assert [c.id for c in first] == [c.id for c in second]
    assert len({c.id for c in first}) == len(first)
    assert all(c.id.startswith("notes.md#") for c in first)


def test_chunk_kinds():
    doc = parse(SAMPLE)
    chunks = chunk_document(doc, "t", set())
    kinds = {c.heading_path[-1]: c.kind for c in chunks}
    assert kinds["Quick Rubric"] == "rubric"
    assert kinds["Example 4 — No Hire (Director)"] == "feedback_example"


def test_plain_text_without_headings_is_one_titled_section():
    doc = parse("Just some notes about my STAR stories.\n\nSecond paragraph.", "stories.txt")
    assert doc.sections[0].path == ("stories",)
    assert "Second paragraph." in doc.sections[0].body


def test_windows_1252_file_is_decoded():
    text = decode_document("legacy.md", "Café — “quoted”".encode("cp1252"))
    assert text == "Café — “quoted”"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"PK\x03\x04rest-of-zip", "zip archive"),
        (b"%PDF-1.7\n...", "PDF"),
        (b"\x89PNG\r\n\x1a\n....", "PNG"),
        (b"text\x00with\x00nuls", "binary"),
        (b"   \n\t\n", "empty"),
        (bytes(range(1, 32)) * 40, "binary"),
    ],
)
def test_binary_and_empty_documents_are_refused(data: bytes, reason: str):
    with pytest.raises(DocumentError, match=reason):
        parse_document("bad.md", Path("bad.md"), data)


def test_unsupported_type_and_size_limit_are_refused(tmp_path: Path):
    docx = tmp_path / "cv.docx"
    docx.write_bytes(b"whatever")
    with pytest.raises(DocumentError, match=r"unsupported file type '\.docx'"):
        read_document_bytes(docx, allowed_suffixes=(".md", ".txt"), max_bytes=1000)
    big = tmp_path / "big.md"
    big.write_text("x" * 5000)
    with pytest.raises(DocumentError, match="over the"):
        read_document_bytes(big, allowed_suffixes=(".md",), max_bytes=1000)
    with pytest.raises(DocumentError, match="not found"):
        read_document_bytes(tmp_path / "missing.md", allowed_suffixes=(".md",), max_bytes=1000)
