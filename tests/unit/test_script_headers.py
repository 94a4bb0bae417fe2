"""The generated scripts' headers: the book's one-shot sequence; safe to run, paste or source."""

import os
import shutil
import subprocess
import sys

import pytest

from . import powershell
from .conftest import ACCOUNT
from .test_scripts import RECORDER


@pytest.mark.parametrize("dialect", ["v1", "v2"])
def test_the_powershell_script_requires_7_3_and_says_what_pasting_changes(dialect, cli):
    script = cli("plan", "--shell", "powershell", "--account", ACCOUNT, "--ml-cli", dialect).stdout
    assert script.splitlines()[0] == "#Requires -Version 7.3"
    header = script.split("$ErrorActionPreference = 'Stop'")[0]
    assert "Pasted into a session" in header and "for the rest of that session" in header
    assert powershell.errors(script) == []


@pytest.mark.parametrize("dialect", ["v1", "v2"])
def test_the_powershell_script_says_how_to_get_powershell_7(dialect, cli):
    header = cli("plan", "--shell", "powershell", "--account", ACCOUNT, "--ml-cli", dialect).stdout.split("# login")[0]
    assert "not Windows PowerShell 5.1" in header and "winget install --id Microsoft.PowerShell" in header


def test_the_powershell_script_asks_az_for_json_and_puts_the_users_setting_back(cli):
    script = cli("plan", "--shell", "powershell", "--account", ACCOUNT).stdout
    body = script.split("\ntry {", 1)[1]
    # Set inside the block, before the first az command; restored in its finally, however it ends.
    assert body.index("\n$env:AZURE_CORE_OUTPUT = 'json'\n") < body.index("\naz ")
    assert script.split("\ntry {", 1)[0].endswith("\n$azwrapOutput = $env:AZURE_CORE_OUTPUT")
    assert script.endswith("} finally {\n$env:AZURE_CORE_OUTPUT = $azwrapOutput\n}\n")
    assert powershell.errors(script) == []


def test_the_powershell_script_refuses_a_placeholder_until_every_one_is_replaced(cli):
    script = cli("plan", "--shell", "powershell").stdout
    guard = next(line for line in script.splitlines() if line.startswith("if ("))
    assert guard == "if ('<your-adls-account>' -eq ('<your-adl' + 's-account>')) {"  # true: it throws
    assert "throw 'replace <your-adls-account> in this script" in script.split(guard)[1].splitlines()[1]
    replaced = script.replace("<your-adls-account>", ACCOUNT)
    assert f"if ('{ACCOUNT}' -eq ('<your-adl' + 's-account>')) {{" in replaced  # false once replaced: it runs
    assert powershell.errors(script) == [] and powershell.errors(replaced) == []
    assert "<your-adls-account>" not in cli("plan", "--shell", "powershell", "--account", ACCOUNT).stdout  # no guard without a placeholder


@pytest.mark.parametrize("shell", ["powershell", "bash"])
def test_both_headers_say_one_shot_and_name_azwrap_all(shell, cli):
    header = cli("plan", "--account", ACCOUNT, "--shell", shell).stdout.split("# login")[0]
    assert "one-shot sequence" in header and "'azwrap all' is the" in header and "re-runnable way" in header


def _interactive_bash(tmp_path, cli, commands: str, fail_on: str = "") -> list[str]:
    """Run commands in an interactive bash whose az is a recorder; its printed lines."""
    assert shutil.which("jq"), "the bash plan reads JSON with jq: install it (apt-get install jq)"
    (tmp_path / "bin").mkdir(exist_ok=True)
    recorder = tmp_path / "bin" / "az"
    failing = f'\nif {fail_on!r} and {fail_on!r} in line:\n    sys.exit(1)\n' if fail_on else ""
    recorder.write_text(RECORDER.replace("/usr/bin/env python3", sys.executable, 1).replace(
        '\nprint(json.dumps', failing + '\nprint(json.dumps', 1))  # fmt: skip
    recorder.chmod(0o755)
    (tmp_path / "plan.sh").write_text(cli("plan", "--shell", "bash", "--account", ACCOUNT).stdout)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "AZ_RECORD": str(tmp_path / "calls"),
           "HOME": str(tmp_path)}  # fmt: skip
    env.pop("SP_PASSWORD", None)
    run = subprocess.run(["bash", "--norc", "--noprofile", "-i", "-c", commands], env=env, cwd=tmp_path,
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return run.stdout.splitlines()


REPORT = 'before=$-; source ./plan.sh; rc=$?; printf "%s\\n" "$before" "$-" "$rc" "${SP_PASSWORD-unset}" alive'


def test_sourcing_the_bash_script_keeps_the_shells_options_and_sets_sp_password(tmp_path, cli):
    before, after, rc, password, alive = _interactive_bash(tmp_path, cli, REPORT)
    assert "i" in before and after == before  # interactive, and no set -e/-u/pipefail left behind
    assert (rc, password, alive) == ("0", "PW'$x", "alive")
    assert len((tmp_path / "calls").read_text().splitlines()) == 15  # the whole book ran


def test_a_failure_while_sourced_returns_and_leaves_the_shell_open(tmp_path, cli):
    before, after, rc, password, alive = _interactive_bash(tmp_path, cli, REPORT, fail_on="storage account create")
    assert after == before
    assert (rc, password, alive) == ("1", "unset", "alive")
    assert len((tmp_path / "calls").read_text().splitlines()) == 7  # stopped at the failing command


def test_running_the_bash_script_needs_no_sourcing(tmp_path, cli):
    lines = _interactive_bash(tmp_path, cli, 'bash ./plan.sh >/dev/null; printf "%s\\n" "$?" "${SP_PASSWORD-unset}"')
    assert lines == ["0", "unset"]  # a child process cannot set the caller's variables: that is what sourcing is for
