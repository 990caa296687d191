"""The design notes the code cites live in docs/, so a reader can follow every reference.

Code, tests, benchmarks and the README cite `docs/<name>.md` and invariants as
`docs/invariants.md #N`; each cited file must exist and each cited number must be an
invariant of docs/invariants.md. Nothing may cite the notes that lived outside the
repository (`DESIGN.md`, `API.md`): their current versions are docs/invariants.md,
docs/architecture.md and docs/api.md.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("runtime", "adapters", "local_emulator", "infra", "tests", "bench", "examples")

OUTSIDE_NOTES = re.compile(r"\bDESIGN(?:\.md)?\b|(?<![\w/])API\.md")
DOC_FILE = re.compile(r"\bdocs/([\w-]+\.md)")
INVARIANTS = re.compile(r"docs/invariants\.md #(\d+)((?:(?:-| and |, )#\d+)*)")
INVARIANT_HEADING = re.compile(r"^## (\d+)\. ", re.MULTILINE)


def cited_texts() -> dict[Path, str]:
    """Every file that may cite the docs, except this test (it spells the old names)."""
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for folder in SOURCES:  # not hidden folders: bench/.peer-venv holds DBOS and its deps
        found = (ROOT / folder).rglob("*.py")
        paths.extend(sorted(p for p in found if not hidden(p.relative_to(ROOT))))
    return {path: path.read_text() for path in paths if path != Path(__file__).resolve()}


def hidden(path: Path) -> bool:
    return any(part.startswith(".") for part in path.parts)


def where(path: Path, text: str, offset: int) -> str:
    return f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, offset) + 1}"


def test_nothing_cites_the_notes_outside_the_repository() -> None:
    found = [
        f"{where(path, text, match.start())}: {match.group(0)!r}"
        for path, text in cited_texts().items()
        for match in OUTSIDE_NOTES.finditer(text)
    ]
    assert not found, "cite docs/ instead (invariants.md, architecture.md, api.md):\n" + "\n".join(
        found
    )


def test_every_cited_doc_exists() -> None:
    missing = [
        f"{where(path, text, match.start())}: docs/{match.group(1)}"
        for path, text in cited_texts().items()
        for match in DOC_FILE.finditer(text)
        if not (ROOT / "docs" / match.group(1)).is_file()
    ]
    assert not missing, "cited, but not in docs/:\n" + "\n".join(missing)


def test_every_cited_invariant_exists() -> None:
    numbers = set(INVARIANT_HEADING.findall((ROOT / "docs" / "invariants.md").read_text()))
    assert numbers, "docs/invariants.md has no '## N. ...' headings"
    unknown = [
        f"{where(path, text, match.start())}: #{number}"
        for path, text in cited_texts().items()
        for match in INVARIANTS.finditer(text)
        for number in [match.group(1), *re.findall(r"#(\d+)", match.group(2))]
        if number not in numbers
    ]
    assert not unknown, "cited, but not an invariant of docs/invariants.md:\n" + "\n".join(unknown)
