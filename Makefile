# azwrap: `make demo` runs it end to end offline, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE_ACCOUNT := mydatalake
DEMO_DIR := $(CURDIR)/demo

.PHONY: install test demo lint scripts clean bench

# install: azwrap and the test tools; the demo needs azwrap alone (.installed-app).
install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@ $(VENV)/.installed-app

$(VENV)/.installed-app: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

# worksteal: a worker that runs out of tests takes queued ones from the other (the default hands each worker
# a fixed block up front, and the slow end-to-end modules can land on one of them).
test: install
	$(BIN)/python -m pytest -n auto --dist worksteal

# azwrap demo: the whole setup (azwrap all), then its teardown (azwrap destroy), against the offline az
# simulator that ships with azwrap, in demo/: re-runnable (it resets the simulator and azwrap's state).
demo: $(VENV)/.installed-app
	@'$(abspath $(BIN))/azwrap' demo --dir '$(DEMO_DIR)'

# The simulator (azwrap/sim) keeps az's own terse style and is checked by its tests instead.
lint: install
	$(BIN)/ruff check --line-length 120 --target-version py310 --select E,F,W,B --ignore E501 \
		--extend-exclude azwrap/sim azwrap tests

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
