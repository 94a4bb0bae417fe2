"""`--output`/`-o` as az spells it, with `--format` (azwrap's first name for it) kept as an alias."""

import json

import pytest

from .conftest import ACCOUNT, seed_state


@pytest.mark.parametrize("command", [["status"], ["log"], ["plan", "--account", ACCOUNT]])
@pytest.mark.parametrize("spelling", ["--output", "-o", "--format"])
def test_every_spelling_prints_the_same_json(command, spelling, cli, workdir):
    seed_state(workdir, done=["storage"])
    result = cli(*command, spelling, "json")
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)
    assert result.stdout == cli(*command, "--output", "json").stdout


@pytest.mark.parametrize("command", [["status"], ["log"], ["plan"], ["doctor"]])
def test_help_names_output_first(command, cli):
    assert "-o, --output, --format" in cli(*command, "--help").stdout
