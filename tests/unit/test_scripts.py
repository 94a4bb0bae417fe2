"""`azwrap plan`: the book's sequence as PowerShell, bash or JSON, free of the book's errata."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from azwrap.book import quoting
from azwrap.book.scripts import ps_quote
from azwrap.book.settings import Settings
from azwrap.book.steps import plan

from . import powershell
from .conftest import ACCOUNT, BOOK, SECRET_FILE, succeeded

ROOT = Path(__file__).resolve().parents[2]
# Values that a shell would mangle if quoting were wrong; each is valid where it is used.
TRICKY = {
    "location": "Central US",
    "upload_path": "in/it's $HOME `date`; rm -rf ~ & \"x\" \u2019q\u2019.csv",
    "source": "my data/it's $(whoami) `id`; echo \"pwned\".csv",
    "aml_group": "my.rg(1)",
}
# What PowerShell itself would misread ($, backticks, quotes, ;), without what cmd.exe interprets on
# the way to az.cmd (& ( ) " and the like), which the PowerShell script refuses (test_launch.py).
PS_TRICKY = {
    "location": "Central US",
    "upload_path": "in/it's $HOME `date`; rm -rf ~ \u2019q\u2019.csv",
    "source": "my data/it's $whoami `id`; echo pwned.csv",
    "aml_group": "my.rg-1",
}


def templates(settings):
    return [(inv.capture, inv.template()) for inv in plan(settings)]


RUN_TIME = {"$sp.appId", "$sp.password", "$sp.tenant", "$acc.id", "$aml.id"}


def as_powershell_passes(argv):
    """argv of a template, with its run-time values as the variables PowerShell reads them from."""
    return [powershell.Var(arg) if arg in RUN_TIME else arg for arg in argv]


def book_templates():
    """BOOK (hand-written) with run-time values as the plan's literal names."""
    names = {"6f1c2a9e-0d3b-4e57-9a1c-2b3c4d5e6f70": "$sp.appId", "72f988bf-86f1-41af-91ab-2d7cd011db47": "$sp.tenant"}
    out = []
    for _, args in BOOK:
        argv = ["az"] + [
            "$sp.password" if a is SECRET_FILE else names.get(a, "$acc.id" if a.endswith(ACCOUNT) and "/" in a else "$aml.id" if "/workspaces/" in a else a)
            for a in args
        ]
        out.append(argv)
    return out


def test_plan_json_lists_the_15_book_invocations(cli):
    result = cli("plan", "--format", "json", "--account", ACCOUNT)
    assert result.exit_code == 0
    commands = json.loads(result.stdout)
    assert [c["argv"] for c in commands] == book_templates()
    assert len(commands) == 15
    assert [c["step"] for c in commands] == [step for step, _ in BOOK]
    assert [c["capture"] for c in commands if c["capture"]] == ["sp", "acc", "aml"]
    assert commands[9]["argv"] == ["az", "ad", "sp", "create-for-rbac"] and commands[9]["capture"] == "sp"


def test_plan_without_account_uses_a_placeholder_and_says_so(cli):
    result = cli("plan", "--format", "json")
    assert result.exit_code == 0
    assert "<your-adls-account>" in result.stderr
    assert ["az", "storage", "fs", "create", "--account-name", "<your-adls-account>", "--name", "fs1"] in [
        c["argv"] for c in json.loads(result.stdout)
    ]


def test_powershell_plan_parses_and_runs_exactly_the_book(cli):
    script = succeeded(cli("plan", "--shell", "powershell", "--account", ACCOUNT)).stdout
    assert powershell.errors(script) == []
    assert powershell.az_commands(script) == [(c, as_powershell_passes(argv)) for c, argv in zip(
        [None] * 9 + ["sp", "acc", None, None, "aml", None], book_templates(), strict=True)]  # fmt: skip
    # The secret is set last; az's output format is put back however the script ends.
    assert script.endswith("$env:SP_PASSWORD = $sp.password\n} finally {\n$env:AZURE_CORE_OUTPUT = $azwrapOutput\n}\n")


def test_every_continuation_backtick_ends_its_line(cli):
    script = succeeded(cli("plan", "--shell", "powershell", "--account", ACCOUNT)).stdout
    for number, line in enumerate(script.splitlines(), 1):
        if "`" in line:
            assert line.endswith(" `") and line.count("`") == 1, f"line {number}: {line!r}"


@pytest.mark.parametrize("good,broken", [
    ("--vm-size STANDARD_D1_V2 `\n", "--vm-size STANDARD_D1_V2 ` \n"),  # a space after the backtick
    ("--name MLData `\n", "--name MLData\n"),  # a missing backtick
])  # fmt: skip
def test_the_checker_catches_the_books_errata(good, broken, cli):
    script = succeeded(cli("plan", "--shell", "powershell", "--account", ACCOUNT)).stdout
    assert good in script
    assert powershell.az_commands(script.replace(good, broken)) != powershell.az_commands(script)


def test_powershell_quoting_passes_tricky_values_literally(cli, tmp_path):
    settings = Settings(account=ACCOUNT, **PS_TRICKY)
    args = ["plan", "--shell", "powershell", "--account", ACCOUNT] + [x for k, v in PS_TRICKY.items() for x in ("--" + k.replace("_", "-"), v)]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert powershell.errors(result.stdout) == []
    assert powershell.az_commands(result.stdout) == [(c, as_powershell_passes(argv)) for c, argv in templates(settings)]


# Each holds a character PowerShell would read as code in a bare argument or in the wrong quotes.
PS_VALUES = ["plain", "Central US", "it's", "a''b", "$x", "$HOME.csv", "a$b", "$", "`t", "a`", 'say "hi"', "\u201cq\u201d",
             "a;b", "\u2018q\u2019", "@x", "a@b", "(x)", "a(b)", "#x", "a#b", "a b", "  two  spaces ", "na\u00efve",
             "\u65e5\u672c\u8a9e.csv", "-", "a,b", "a|b", "a&b", "{x}", "a=@b", "x--y", "--not-a-flag=1"]


@pytest.mark.parametrize("value", PS_VALUES)
def test_ps_quote_round_trips_through_the_grammar(value):
    script = f"az x --source {ps_quote(value)}\n"
    assert powershell.errors(script) == []
    assert powershell.az_commands(script) == [(None, ["az", "x", "--source", value])]


@pytest.mark.parametrize("bare,seen", [("$HOME.csv", powershell.Var("$HOME.csv")), ("$x", powershell.Var("$x")),
                                       ("@x", powershell.Var("@x"))])  # fmt: skip
def test_the_checker_tells_a_variable_from_literal_text(bare, seen):
    assert powershell.az_commands(f"az x --source {bare}\n") == [(None, ["az", "x", "--source", seen])]
    assert seen != bare


@pytest.mark.parametrize("dialect", ["v1", "v2"])
@pytest.mark.parametrize("tricky", [False, True], ids=["defaults", "tricky-values"])
def test_bash_plan_passes_shellcheck(dialect, tricky, cli, tmp_path):
    values = [x for k, v in TRICKY.items() for x in ("--" + k.replace("_", "-"), v)] if tricky else []
    script = tmp_path / "plan.sh"
    script.write_text(succeeded(cli("plan", "--shell", "bash", "--account", ACCOUNT, "--ml-cli", dialect, *values)).stdout)
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    # SC2016 (a `$` in single quotes is not expanded) and SC1112 (a unicode quote) describe exactly
    # what these values are meant to be: literal text.
    excluded = ["--exclude=SC2016,SC1112"] if tricky else []
    result = subprocess.run([shellcheck, "--severity=style", *excluded, str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


RECORDER = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["AZ_RECORD"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
outputs = {"create-for-rbac": {"appId": "APP", "password": "PW'$x", "tenant": "TEN"},
           "account show": {"id": "/acc/id"}, "workspace show": {"id": "/aml/id"}}
line = " ".join(sys.argv[1:])
print(json.dumps(next((v for k, v in outputs.items() if k in line), {})))
"""


def test_bash_plan_passes_tricky_values_literally(cli, tmp_path):
    assert shutil.which("jq"), "the bash plan reads JSON with jq: install it (apt-get install jq)"
    # az is a recorder here: what matters is the argv bash hands it, quoting included.
    (tmp_path / "bin").mkdir()
    recorder = tmp_path / "bin" / "az"
    recorder.write_text(RECORDER.replace("/usr/bin/env python3", sys.executable, 1))
    recorder.chmod(0o755)
    args = ["plan", "--shell", "bash", "--account", ACCOUNT] + [
        x for k, v in TRICKY.items() for x in ("--" + k.replace("_", "-"), v)
    ]
    script = tmp_path / "plan.sh"
    script.write_text(succeeded(cli(*args)).stdout)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "AZ_RECORD": str(tmp_path / "calls")}
    run = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    recorded = [json.loads(line) for line in (tmp_path / "calls").read_text().splitlines()]
    values = {"$sp.appId": "APP", "$sp.password": "PW'$x", "$sp.tenant": "TEN", "$acc.id": "/acc/id", "$aml.id": "/aml/id"}
    expected = [[values.get(a, a) for a in argv[1:]] for _, argv in templates(Settings(account=ACCOUNT, **TRICKY))]
    assert recorded == expected


@pytest.mark.parametrize("shell,path", [("powershell", "scripts/book.ps1"), ("bash", "scripts/book.sh")])
def test_checked_in_book_scripts_are_current(shell, path, cli):
    current = succeeded(cli("plan", "--shell", shell, "--account", ACCOUNT)).stdout
    assert (ROOT / path).read_text() == current, f"{path} is stale: run `make scripts`"


@pytest.mark.parametrize("platform,first_line", [("powershell", "#Requires -Version 7.3"), ("bash", "#!/usr/bin/env bash")])
def test_plan_writes_for_the_platforms_shell_unless_told(platform, first_line, cli, monkeypatch):
    monkeypatch.setattr(quoting, "platform_shell", lambda os_name=None: platform)
    assert succeeded(cli("plan", "--account", ACCOUNT)).stdout.splitlines()[0] == first_line
    other = {"powershell": "bash", "bash": "powershell"}[platform]
    assert succeeded(cli("plan", "--account", ACCOUNT, "--shell", other)).stdout.splitlines()[0] != first_line


@pytest.mark.parametrize("shell", ["powershell", "bash"])
def test_a_v1_plan_warns_in_its_header_and_a_v2_plan_does_not(shell, cli):
    v1 = succeeded(cli("plan", "--shell", shell, "--account", ACCOUNT)).stdout.split("\n\n")[0]
    assert [line for line in v1.splitlines() if "WARNING" in line] == [
        "# WARNING: --ml-cli v1 (the book's azure-cli-ml extension) is retired: its support ended on 30 September 2025;"
        " for a new setup, use --ml-cli v2 (the current ml extension)"]  # fmt: skip
    assert "WARNING" not in succeeded(cli("plan", "--shell", shell, "--account", ACCOUNT, "--ml-cli", "v2")).stdout
    json_plan = succeeded(cli("plan", "--output", "json", "--account", ACCOUNT))
    assert "WARNING: --ml-cli v1" in json_plan.stderr and json.loads(json_plan.stdout)
