"""The docs a newcomer relies on stay true: every `§N` the code cites exists in docs/wire.md,
no doc points outside the repository, and the README's package map names every part of the
package."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tui_session"
WIRE = (ROOT / "docs" / "wire.md").read_text(encoding="utf-8")


def wire_sections() -> set[str]:
    """Section numbers of docs/wire.md: headings (`## 2.`, `### 2.8`), the entries of §7
    (`**7.11 …**`) and the numbered behaviours of §9 (`§9.37`)."""
    found = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", WIRE, re.M))
    found |= set(re.findall(r"^\*\*(7\.\d+) ", WIRE, re.M))
    behaviours = WIRE.split("## 9. Acceptance behaviours", 1)[1]
    found |= {f"9.{n}" for n in re.findall(r"^(\d+)\. ", behaviours, re.M)}
    return found


def cited_sections() -> dict[str, set[str]]:
    cited: dict[str, set[str]] = {}
    sources = [*PACKAGE.rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    sources += [path for path in (ROOT / "tests" / "node").glob("*.mjs")]
    for path in sources:
        for number in re.findall(r"§(\d+(?:\.\d+)?)", path.read_text(encoding="utf-8")):
            cited.setdefault(number, set()).add(str(path.relative_to(ROOT)))
    return cited


def test_every_cited_section_exists_in_wire_md() -> None:
    sections = wire_sections()
    assert {"2.8", "3.9", "7.11", "7.18", "8.5", "9.37", "9.50"} <= sections, "the parse works"
    missing = {
        number: files for number, files in cited_sections().items() if number not in sections
    }
    assert not missing, f"cited but not in docs/wire.md: {missing}"


def test_no_doc_or_module_points_outside_the_repository() -> None:
    texts = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *PACKAGE.rglob("*.py")]
    texts += [*(ROOT / "tests").rglob("*.py"), *(ROOT / "tests" / "node").glob("*.mjs")]
    for path in texts:
        if path == Path(__file__):
            continue  # names what it looks for
        text = path.read_text(encoding="utf-8")
        assert "shared/reference" not in text and "../shared" not in text, path


def test_the_readme_package_map_names_every_part_of_the_package() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("| package | job |", 1)[1].split("\n\n", 1)[0]
    packages = [p for p in PACKAGE.iterdir() if (p / "__init__.py").exists()]
    modules = [p for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    for shown in [f"`tui_session/{p.name}/`" for p in packages] + [p.name for p in modules]:
        assert shown in table, f"{shown} is missing from the README's package map"
