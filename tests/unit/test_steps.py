"""Each step command alone runs its own book invocations; later steps read what `sp` recorded."""

import json

import pytest

from azwrap.book import quoting
from azwrap.book.scripts import env_line
from azwrap.book.steps import BY_NAME, STEPS

from .conftest import (ACCOUNT, BOOK, COMPUTE_ID, SECRET, SP, SP_SHOW, TOKEN_EXPIRY, absent, expected, normalised,
                       resources_show, seed_state)

# Step commands and the options they need beyond the defaults.
ARGS = {"storage": ["--account", ACCOUNT], "upload": ["--account", ACCOUNT], "sp": ["--account", ACCOUNT],
        "datastore": ["--account", ACCOUNT]}  # fmt: skip


def record_sp(workdir, done=()):
    """The state `azwrap sp` leaves behind, as if run in an earlier session."""
    seed_state(workdir, done=done, sp=True)


@pytest.mark.parametrize("step", [s.name for s in STEPS])
def test_step_alone_runs_its_book_invocations(step, fake, cli, workdir):
    # The steps it builds on were done in an earlier session (else it says which to run first).
    seed_state(workdir, done=BY_NAME[step].needs, sp=step in ("datastore", "grant"))
    fake.book([step])
    result = cli(step, *ARGS.get(step, []))
    assert result.exit_code == 0, result.output
    assert normalised(fake.calls()) == expected([step])
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("step", ["datastore", "grant"])
def test_step_without_a_recorded_principal_says_run_sp_first(step, fake, cli, workdir):
    result = cli(step, *ARGS.get(step, []))
    assert result.exit_code == 2
    assert "run `azwrap sp` first" in result.stderr
    assert fake.calls() == []


def test_sp_reuses_a_recorded_principal_instead_of_creating_another(fake, cli, workdir):
    record_sp(workdir, done=["storage"])
    fake.on(SP_SHOW, stdout=json.dumps({"appId": SP["appId"], "id": "obj"}))
    fake.book(["sp"])
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert ["ad", "sp", "create-for-rbac"] not in fake.calls()
    account_show, token, create_for_rbac, key_id, *rest = expected(["sp"])  # no new secret: no key id to read
    assert normalised(fake.calls()) == [account_show, token, SP_SHOW, *rest]
    assert f"reusing the service principal {SP['appId']}" in result.stderr


def test_steps_in_separate_processes_pass_the_principal_through_the_state(fake, cli, workdir):
    seed_state(workdir, done=["extension", "workspace", "storage"])
    fake.book(["sp"])
    fake.book(["datastore"])
    assert cli("sp", "--account", ACCOUNT).exit_code == 0
    assert cli("datastore", "--account", ACCOUNT).exit_code == 0
    assert fake.secret_file_contents == [SECRET]


def test_state_file_option_and_env_var(fake, cli, workdir, monkeypatch):
    seed_state(workdir, done=["extension", "workspace", "storage"], path="elsewhere/s.json")
    fake.book(["sp"])
    assert cli("sp", "--account", ACCOUNT, "--state-file", "elsewhere/s.json").exit_code == 0
    assert (workdir / "elsewhere" / "s.json").exists()
    assert not (workdir / ".azwrap").exists()
    monkeypatch.setenv("AZWRAP_STATE", "elsewhere/s.json")
    fake.book(["grant"])
    assert cli("grant").exit_code == 0


@pytest.mark.parametrize("platform,line", [
    ("powershell", f"$env:SP_PASSWORD = '{SECRET}'\n"),  # Windows
    ("bash", f"export SP_PASSWORD='{SECRET}'\n"),  # Linux, macOS: what `eval "$(azwrap env)"` runs
])  # fmt: skip
def test_env_prints_the_line_for_the_platforms_shell(platform, line, cli, workdir, monkeypatch):
    record_sp(workdir)
    monkeypatch.setattr(quoting, "platform_shell", lambda os_name=None: platform)
    result = cli("env")
    assert result.exit_code == 0
    assert result.stdout == line


def test_env_shell_chooses_whatever_the_platform(cli, workdir, monkeypatch):
    record_sp(workdir)
    monkeypatch.setattr(quoting, "platform_shell", lambda os_name=None: "powershell")
    assert cli("env", "--shell", "bash").stdout == f"export SP_PASSWORD='{SECRET}'\n"
    assert cli("env", "--shell", "zsh").stdout == f"export SP_PASSWORD='{SECRET}'\n"
    assert cli("env", "--shell", "fish").stdout == f"set -gx SP_PASSWORD '{SECRET}'\n"
    assert cli("env", "--shell", "tcsh").exit_code == 2


def _fish_single_quoted(text: str) -> str:
    """What fish reads from a single-quoted string (its documentation: only \\\\ and \\' are escapes)."""
    assert text[0] == text[-1] == "'"
    out, i, inner = [], 0, text[1:-1]
    while i < len(inner):
        if inner[i] == "\\" and i + 1 < len(inner) and inner[i + 1] in "\\'":
            out.append(inner[i + 1])
            i += 2
        else:
            assert inner[i] != "'", f"an unescaped quote ends the string early: {text!r}"
            out.append(inner[i])
            i += 1
    return "".join(out)


@pytest.mark.parametrize("secret", ["it's", "back\\slash", "\\'", "a\\nb", "$x (y) {z}", "trailing\\"])
def test_the_fish_line_keeps_any_secret_literal(secret):
    line = env_line("fish", secret)
    assert line.startswith("set -gx SP_PASSWORD ")
    assert _fish_single_quoted(line.removeprefix("set -gx SP_PASSWORD ")) == secret


def test_env_without_a_principal_says_run_sp_first(cli, workdir):
    result = cli("env")
    assert result.exit_code == 2
    assert "run `azwrap sp` first" in result.stderr


# The compute probe is `az resource show --ids <compute id>`: ARM's shape, size and scale under
# properties.properties (what the v1 extension prints too); the simulator's v1 show prints them flat.
V1_SHAPES = {
    "arm": lambda size, nodes: {"name": "d1compute", "properties": {"computeType": "AmlCompute", "properties": {
        "vmSize": size, "scaleSettings": {"maxNodeCount": nodes, "minNodeCount": 0}}}},
    "flat": lambda size, nodes: {"name": "d1compute", "vmSize": size, "scaleSettings": {"maxNodeCount": nodes}},
}  # fmt: skip


def compute_probe_finds(fake, workdir, found):
    seed_state(workdir, done=BY_NAME["compute"].needs)
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, **absent(TOKEN_EXPIRY))
    fake.on(resources_show(COMPUTE_ID), stdout=json.dumps(found))


@pytest.mark.parametrize("shape", list(V1_SHAPES))
@pytest.mark.parametrize("size,nodes", [("STANDARD_D2_V2", 1), ("STANDARD_D1_V2", 4)], ids=["other-size", "other-nodes"])
def test_v1_compute_of_another_size_or_node_count_is_refused(shape, size, nodes, fake, cli, workdir):
    compute_probe_finds(fake, workdir, V1_SHAPES[shape](size, nodes))
    result = cli("compute")
    assert result.exit_code == 2
    assert f"compute d1compute exists with vm size {size} and at most {nodes} node(s), not STANDARD_D1_V2 and 1" in result.stderr
    assert "az ml computetarget delete --name d1compute" in result.stderr
    assert resources_show(COMPUTE_ID) in fake.calls() and BOOK[4][1] not in fake.calls()


@pytest.mark.parametrize("shape", list(V1_SHAPES))
def test_v1_compute_of_the_same_size_is_kept(shape, fake, cli, workdir):
    compute_probe_finds(fake, workdir, V1_SHAPES[shape]("standard_d1_v2", 1))
    result = cli("compute")
    assert result.exit_code == 0, result.output
    assert "compute d1compute exists already, not created again" in result.stderr
    assert BOOK[4][1] not in fake.calls()
