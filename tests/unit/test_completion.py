"""Tab completion for PowerShell, bash, zsh and fish, driven through azwrap's completion entry point."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from . import powershell

MARKERS = {
    "powershell": "Register-ArgumentCompleter -Native -CommandName azwrap -ScriptBlock",
    "bash": "complete -o nosort -F _azwrap_completion azwrap",
    "zsh": "#compdef azwrap",
    "fish": "complete --no-files --command azwrap",
}


@pytest.mark.parametrize("shell", MARKERS)
def test_completion_prints_the_script_for_each_shell(shell, fp, cli):
    result = cli("completion", shell)
    assert result.exit_code == 0, result.output
    assert MARKERS[shell] in result.stdout
    assert f"_AZWRAP_COMPLETE={shell}_complete" in result.stdout or f"_AZWRAP_COMPLETE = '{shell}_complete'" in result.stdout
    assert len(fp.calls) == 0  # printing a script starts no process (click's bash version check included)


def test_the_powershell_script_parses_and_cleans_up_after_itself(cli):
    script = cli("completion", "powershell").stdout
    assert powershell.errors(script) == []
    assert "Remove-Item -LiteralPath 'Env:COMP_WORDS', 'Env:COMP_INCOMPLETE', 'Env:_AZWRAP_COMPLETE'" in script


def test_an_unknown_shell_is_a_usage_error(cli):
    assert cli("completion", "cmd").exit_code == 2
    assert cli("completion", "--shell", "cmd").exit_code == 2


@pytest.mark.parametrize("shell", MARKERS)
def test_completion_takes_the_shell_as_env_and_plan_do(shell, cli):
    by_option = cli("completion", "--shell", shell)
    assert by_option.exit_code == 0, by_option.output
    assert by_option.stdout == cli("completion", shell).stdout


def test_completion_needs_one_shell(cli):
    missing = cli("completion")
    assert missing.exit_code == 2 and "name the shell" in missing.stderr
    both = cli("completion", "bash", "--shell", "zsh")
    assert both.exit_code == 2 and "two shells named" in both.stderr
    assert cli("completion", "bash", "--shell", "bash").exit_code == 0


def complete(cli, shell: str, line: str) -> list[str]:
    """What azwrap answers a shell asking to complete `line` (the cursor at its end)."""
    words = line.split(" ")
    env = {"_AZWRAP_COMPLETE": f"{shell}_complete", "COMP_WORDS": line}
    if shell == "powershell":
        env["COMP_INCOMPLETE"] = words[-1]
    elif shell == "fish":
        env["COMP_CWORD"] = words[-1]  # fish passes the word being completed
    else:
        env["COMP_CWORD"] = str(len(words) - 1)
    result = cli(env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def values(shell: str, lines: list[str]) -> list[str]:
    if shell == "powershell":
        return [line.split("\t")[1] for line in lines]
    if shell == "bash":
        return [line.split(",", 1)[1] for line in lines]
    if shell == "zsh":  # type, value, help: three lines each
        return lines[1::3]
    return [line.split(",", 1)[1].split("\t")[0] for line in lines]  # fish: type,value<TAB>help


@pytest.mark.parametrize("shell", MARKERS)
@pytest.mark.parametrize("line,expected", [
    ("azwrap do", ["doctor"]),
    ("azwrap all --ml-cli ", ["v1", "v2"]),
    ("azwrap all --force ", ["extension", "workspace", "compute", "storage", "upload", "sp", "datastore", "grant"]),
    ("azwrap completion p", ["powershell"]),
    ("azwrap plan --sh", ["--shell"]),
])  # fmt: skip
def test_each_shell_completes_commands_options_and_choices(shell, line, expected, cli):
    assert values(shell, complete(cli, shell, line)) == expected


def test_powershell_answers_carry_the_help_text(cli):
    [line] = complete(cli, "powershell", "azwrap doc")
    assert line.split("\t") == ["plain", "doctor", "Check, read-only, what would make the setup fail."]


def test_the_bash_script_completes_in_a_real_bash(tmp_path):
    bash = shutil.which("bash")
    azwrap = Path(sys.executable).parent / "azwrap"
    assert bash and azwrap.exists()
    env = {**os.environ, "PATH": f"{azwrap.parent}:{os.environ['PATH']}"}
    probe = 'source <(azwrap completion bash); COMP_WORDS=(azwrap all --ml-cli ""); COMP_CWORD=3; ' \
            '_azwrap_completion azwrap; printf "%s\\n" "${COMPREPLY[@]}"'
    run = subprocess.run([bash, "--norc", "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert run.stdout.split() == ["v1", "v2"], run.stderr


@pytest.mark.parametrize("command", ["all", "upload", "doctor"])
def test_source_completes_as_a_file_name_through_clicks_entry_point(command, cli):
    # click's bash protocol: "type,value"; type file tells the script to let bash complete file names.
    assert complete(cli, "bash", f"azwrap {command} --source in") == ["file,in"]


def test_the_bash_script_completes_source_with_file_names_in_a_real_bash(tmp_path):
    # compopt works only while bash itself completes: an interactive bash on a pty, Tab typed.
    from ..terminal import Terminal

    azwrap = Path(sys.executable).parent / "azwrap"
    for name in ("input.csv", "inventory.csv", "other.csv"):
        (tmp_path / name).write_text("a,b\n")
    env = {**os.environ, "PATH": f"{azwrap.parent}:{os.environ['PATH']}", "HOME": str(tmp_path), "PS1": "$ "}
    terminal = Terminal(["bash", "--norc", "--noprofile", "-i"], env=env, cwd=tmp_path, columns=100)
    terminal.type("source <(azwrap completion --shell bash); echo ready\r")
    terminal.wait_for("ready\r\n")
    terminal.type("azwrap all --source in\t\t")
    terminal.wait_for("inventory.csv")
    terminal.proc.kill()  # the listing is all this test needs from bash
    terminal.finish()
    listed = terminal.text().split("azwrap all --source in", 1)[1]
    assert "input.csv" in listed and "inventory.csv" in listed and "other.csv" not in listed
