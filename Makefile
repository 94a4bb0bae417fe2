# azwrap: `make demo` runs it end to end offline, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE_ACCOUNT := mydatalake
SIM := $(CURDIR)/scripts/az-sim
DEMO_DIR := $(CURDIR)/demo
DEMO_SIM_HOME := $(DEMO_DIR)/.az-sim
DEMO_ACCOUNT := demodatalake

.PHONY: install test demo lint scripts clean bench

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

test: install
	$(BIN)/python -m pytest -n auto

# The whole setup (azwrap all) against scripts/az-sim, the offline az simulator, in demo/:
# re-runnable, because it resets the simulator and forgets azwrap's state first.
demo: install
	@echo "Demo: azwrap all against scripts/az-sim, an offline az simulator freshly reset in demo/ (signed out," >&2
	@echo "nothing created; nothing reaches Azure). Each \$$ line is an az command azwrap runs." >&2
	@rm -rf '$(DEMO_DIR)/.azwrap'
	@mkdir -p '$(DEMO_DIR)'
	@cp scripts/demo-input.csv '$(DEMO_DIR)/input.csv'
	@AZSIM_HOME='$(DEMO_SIM_HOME)' '$(SIM)' --reset >/dev/null
	@cd '$(DEMO_DIR)' && AZWRAP_AZ='$(SIM)' AZSIM_HOME='$(DEMO_SIM_HOME)' \
		'$(abspath $(BIN))/azwrap' all --account $(DEMO_ACCOUNT) --source input.csv --state-file .azwrap/state.json
	@echo "What the simulated Azure now holds (scripts/az-sim --summary; the secret is not shown):" >&2
	@AZSIM_HOME='$(DEMO_SIM_HOME)' '$(SIM)' --summary

lint: install
	$(BIN)/ruff check --line-length 120 --target-version py310 --select E,F,W,B --ignore E501 azwrap tests

# `azwrap all` on the simulator with scripts/latency-profile.json x 0.1: --jobs 1 against the default.
bench: install
	$(BIN)/python scripts/bench

# Regenerate the checked-in plans (a test fails while they are stale).
scripts: install
	$(BIN)/azwrap plan --shell powershell --account $(SAMPLE_ACCOUNT) > scripts/book.ps1
	$(BIN)/azwrap plan --shell bash --account $(SAMPLE_ACCOUNT) > scripts/book.sh
	$(BIN)/azwrap plan --ml-cli v2 --shell powershell --account $(SAMPLE_ACCOUNT) > scripts/v2.ps1
	$(BIN)/azwrap plan --ml-cli v2 --shell bash --account $(SAMPLE_ACCOUNT) > scripts/v2.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache demo
