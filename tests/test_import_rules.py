"""The import rules live in pyproject.toml as import-linter contracts, checked by `make lint`.
These tests guard the guard: each contract fails on a copy of the package with one forbidden
import injected, and the contract lists that name modules stay complete."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tui_session"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = {
    contract["id"]: contract
    for contract in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
}

# contract id -> (module that gets the import, the import, what the report must then show)
INJECTED = {
    "layers": (
        "transport/connect.py",
        "import tui_session.launch",
        r"tui_session\.transport\.connect -> tui_session\.launch",
    ),
    "hub-alone": (
        "hub/frames.py",
        "import tui_session.protocol.wire",
        r"tui_session\.hub\.frames -> tui_session\.protocol\.wire",
    ),
    "protocol-pure": (
        "protocol/wire.py",
        "import socket",
        r"tui_session\.protocol\.wire -> socket",
    ),
    "textual-only-in-tui": (
        "agent/tools.py",
        "import textual",
        r"tui_session\.agent\.tools -> textual",
    ),
    "sessions-leaf": (
        "sessions.py",
        "import tui_session.config",
        r"tui_session\.sessions -> tui_session\.config",
    ),
    "client-not-agent": (
        "transport/client_events.py",
        "import tui_session.transport.agent_run",
        r"tui_session\.transport\.client_events -> tui_session\.transport\.agent_run",
    ),
    "transport-acyclic": (  # export already imports channel_io
        "transport/channel_io.py",
        "import tui_session.transport.export",
        r"\.(channel_io -> \.export|export -> \.channel_io) ",
    ),
    "package-acyclic": (  # the chat screen already imports the widgets
        "tui/widgets/status.py",
        "import tui_session.tui.screens.chat",
        r"\.(widgets -> \.screens|screens -> \.widgets) ",
    ),
}


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with the project's contracts on the package found at `root`."""
    args = [str(LINT_IMPORTS), "--no-cache", "--no-logo"]
    args += [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run(
        [*args, str(root / "pyproject.toml")],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def copy_of_the_package(root: Path) -> Path:
    shutil.copytree(PACKAGE, root / "tui_session", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_every_contract_has_a_violation_to_catch() -> None:
    assert set(INJECTED) == set(CONTRACTS)


@pytest.mark.parametrize("contract", sorted(INJECTED))
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, contract: str) -> None:
    module, line, shown = INJECTED[contract]
    root = copy_of_the_package(tmp_path)
    before = lint_imports(root, contract)
    with (root / "tui_session" / module).open("a") as source:
        source.write(f"\n{line}  # injected by tests/test_import_rules.py\n")
    after = lint_imports(root, contract)
    output = after.stdout + after.stderr
    assert after.returncode == 1, output
    assert f"{CONTRACTS[contract]['name']} BROKEN" in output
    assert re.search(shown, output), f"the injected import is reported:\n{output}"
    assert not re.search(shown, before.stdout), "...and it was not reported before"


def _transport_modules(prefix: str) -> set[str]:
    return {
        f"tui_session.transport.{path.stem}"
        for path in (PACKAGE / "transport").glob(f"{prefix}*.py")
    }


def test_client_and_agent_module_lists_name_every_such_module() -> None:
    """import-linter has no name-prefix wildcard: a new transport/client_*.py or agent_*.py
    must be added to the `client-not-agent` contract, or this fails."""
    contract = CONTRACTS["client-not-agent"]
    assert set(contract["source_modules"]) == _transport_modules("client")
    assert set(contract["forbidden_modules"]) == _transport_modules("agent")
