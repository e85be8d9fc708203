# Two commands for a newcomer: `make chat` and `make test`. Each bootstraps what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_DIR := tests/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
SESSION ?= demo

.PHONY: chat test lint bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The npm oracle (ably-js, @ably/ai-transport); skipped with a visible reason where node is absent.
$(NODE_STAMP): $(NODE_DIR)/package.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(NODE_DIR) && npm install --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: node interop tests will be skipped"; fi

# The terminal client on session $(SESSION); it starts a local hub in the background if needed.
# A second terminal joins with: tui-session chat --session demo --device phone
chat: $(STAMP)
	$(BIN)/tui-session chat --session $(SESSION)

# ruff, then the import rules (import-linter contracts in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

test: $(STAMP) $(NODE_STAMP) lint
	$(BIN)/pytest -q -m "not soak"

# All benchmarks: bench/hub.py and bench/side_by_side.py write docs/benchmarks.md (~8 min),
# then bench/tui.py prints the terminal client's table (~2 min). The baseline needs the
# Debian redis-server, installed here when missing (these machines run as root).
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	@command -v redis-server >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q redis-server)
	$(BIN)/python bench/report.py --profile /tmp/tui-session-bench-profile
	$(BIN)/python bench/tui.py
