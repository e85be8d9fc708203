"""The import rules of ARCHITECTURE.md, kept by reading every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tui_session"

# package -> project packages it must not import
FORBIDDEN = {
    "protocol": {"transport", "hub", "agent", "tui", "cli", "config", "paths"},
    "transport": {"hub", "agent", "tui", "cli"},
    "hub": {"transport", "tui", "agent", "protocol", "cli"},
    "agent": {"tui", "hub", "cli"},
}
THIRD_PARTY_ONLY_IN = {"textual": {"tui"}}
PURE_PROTOCOL_BANS = {"asyncio", "ably", "aiohttp", "textual", "socket", "sqlite3", "httpx"}


def imports_of(path: Path) -> set[str]:
    """Absolute dotted names imported by a module (relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[: len(parts) - node.level]
                found.add(".".join((*base, node.module or "")).rstrip("."))
            elif node.module:
                found.add(node.module)
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_keeps_the_import_rules(path: Path) -> None:
    layer = layer_of(path)
    for name in imports_of(path):
        head, _, rest = name.partition(".")
        if head == "tui_session" and rest:
            target = rest.split(".")[0]
            assert target not in FORBIDDEN.get(layer, set()), f"{layer} must not import {target}"
        allowed = THIRD_PARTY_ONLY_IN.get(head)
        if allowed is not None:
            assert layer in allowed, f"only {allowed} may import {head}; {layer} does"
        if layer == "protocol":
            assert head not in PURE_PROTOCOL_BANS, f"protocol/ is pure; it imports {head}"
            assert head != "tui_session" or rest.startswith("protocol"), (
                f"protocol/ imports nothing of the project: {name}"
            )


def test_the_rules_see_a_violation(tmp_path: Path) -> None:
    """The checker itself: a module that breaks a rule is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("from tui_session.tui import app\nimport textual\n")
    names = imports_of_anywhere(bad)
    assert "tui_session.tui" in names and "textual" in names


def imports_of_anywhere(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names
