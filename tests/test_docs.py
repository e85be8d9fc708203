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


README = (ROOT / "README.md").read_text(encoding="utf-8")
# Keys the README's table names that are not bindings of ours: the composer's (enter sends,
# ctrl+j / shift+enter / alt+enter add a line), Textual's own (palette, quit), and the desk's.
NOT_OUR_BINDINGS = {"enter", "ctrl+p", "ctrl+q"}
CORE_KEYS = ("escape", "ctrl+r", "ctrl+t", "ctrl+n", "ctrl+g", "ctrl+o", "f2", "f3", "f4")


def readme_keys() -> set[str]:
    """The keys of the README's "Keys" table (first column; "alt+y / f8, alt+n / f9" is four;
    a "desk:" row names keys of the desk screen)."""
    table = README.split("| key | action |", 1)[1].split("\n\n", 1)[0]
    keys: set[str] = set()
    for row in table.splitlines()[2:]:
        cell = row.split("|")[1].strip().removeprefix("desk:")
        keys |= {key.strip() for key in re.split(r"[,/]", cell) if key.strip()}
    return {"escape" if key == "esc" else key for key in keys}


def bound_keys() -> set[str]:
    """Every key the app, the chat screen and the desk bind."""
    from tui_session.tui.app import ChatApp
    from tui_session.tui.screens.chat import ChatScreen
    from tui_session.tui.screens.desk import DeskScreen

    keys: set[str] = set()
    for owner in (ChatApp, ChatScreen, DeskScreen):
        for binding in owner.BINDINGS:
            keys |= set(binding.key.split(","))  # type: ignore[union-attr]
    return keys


def test_every_key_in_the_readme_is_bound_and_every_chat_key_is_in_the_readme() -> None:
    from tui_session.tui.screens.chat import ChatScreen

    named, bound = readme_keys(), bound_keys()
    assert {"escape", "alt+y", "f9", "f7", "alt+a", "f10", "ctrl+l"} <= named, "the parse works"
    assert not named - bound - NOT_OUR_BINDINGS, "the README names keys nothing binds"
    chat_keys = {key for b in ChatScreen.BINDINGS for key in b.key.split(",")}  # type: ignore[union-attr]
    assert not chat_keys - named, "the chat screen binds keys the README does not list"


def test_no_core_key_takes_the_prefix_of_tmux_or_screen() -> None:
    """The README: none of the core keys is ctrl+a or ctrl+b."""
    assert set(CORE_KEYS) <= bound_keys()
    assert not {"ctrl+a", "ctrl+b"} & bound_keys()


def test_every_flag_the_readme_gives_a_command_exists() -> None:
    """`tui-session CMD … --flag` in the README's code (blocks and inline): CMD is a command
    and has that flag."""
    import typer

    from tui_session.cli import app

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    seen = 0
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    code = blocks + re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", README, flags=re.S))
    for command, rest in re.findall(r"tui-session (\w+)([^\n]*)", "\n".join(code)):
        assert command in commands, f"tui-session {command} is not a command"
        options = {opt for param in commands[command].params for opt in param.opts}
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest):
            seen += 1
            assert flag in options, f"tui-session {command} has no {flag}"
    assert seen > 20, "the parse works"


def test_every_setting_the_readme_names_exists() -> None:
    """`section.key` settings and `TUI_SESSION_*` variables in the README are real ones
    (`agent.notify_*` names a family)."""
    from tui_session.config import env_name, field_names

    named = re.findall(r"`(hub|client|agent)\.([a-z_]+)(\*?)(?=[` ])", README)
    assert len(named) > 8, "the parse works"
    for section, key, family in named:
        fields = field_names(section)
        real = any(f.startswith(key) for f in fields) if family else key in fields
        assert real, f"{section}.{key}{family} is not a setting"
    variables = {
        env_name(section, key)
        for section in ("hub", "client", "agent")
        for key in field_names(section)
    }
    for variable in re.findall(r"TUI_SESSION_[A-Z_]+", README):
        assert variable in variables, f"{variable} is not a setting's variable"


def test_every_module_the_package_map_names_exists() -> None:
    table = README.split("| package | job |", 1)[1].split("\n\n", 1)[0]
    for row in table.splitlines()[2:]:
        first = row.split("|")[1]
        for name in re.findall(r"`([^`]+)`", first):
            path = name if name.startswith("tui_session/") else f"tui_session/{name}"
            assert (ROOT / path).exists(), f"the package map names {name}, which is not there"
