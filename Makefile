# azwrap: `make demo` runs it end to end offline, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE_ACCOUNT := mydatalake

.PHONY: install test demo lint scripts clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

test: install
	$(BIN)/python -m pytest

demo: install
	@echo "The book's setup as a PowerShell script (azwrap plan); nothing runs:" >&2
	$(BIN)/azwrap plan --account $(SAMPLE_ACCOUNT)

lint: install
	$(BIN)/ruff check --line-length 120 --target-version py310 --select E,F,W,B --ignore E501 azwrap tests

# Regenerate the checked-in plans (a test fails while they are stale).
scripts: install
	$(BIN)/azwrap plan --shell powershell --account $(SAMPLE_ACCOUNT) > scripts/book.ps1
	$(BIN)/azwrap plan --shell bash --account $(SAMPLE_ACCOUNT) > scripts/book.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache demo
