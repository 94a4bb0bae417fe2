"""One model of a run, end to end on the simulator: `all --what-if --output json` lists exactly the calls the
real run then makes, from each starting state; a setting that cannot apply is refused with nothing
changed; a completed re-run costs at most 8 az processes; a what-if signed out refuses and never signs in."""

from __future__ import annotations

import json
import os
import re

import pytest

from .test_azwrap_sim import ACC_ID, ACCOUNT, SUB, Place
from .test_setup_state import copy_place, done, make_place, sim  # noqa: F401  (done: a module fixture)

# Read-only calls: the refresh's and doctor's probes, the book's reads ($acc, $aml) and azwrap's own reads
# of what it just made (ARM's identity, the new secret's key id). The others change something.
READS = (("storage", "account", "show", "--name"), ("ml", "workspace", "show"), ("ad", "app", "credential", "list"))
PROBES = (("account", "show"), ("account", "get-access-token"), ("version",), ("group", "list"),
          ("resource", "show"), ("ad", "sp", "show"), ("role", "assignment", "list"), ("storage", "fs", "exists"),
          ("storage", "fs", "file", "exists"), ("extension", "list-available"), ("account", "list-locations"),
          ("storage", "account", "check-name"))  # fmt: skip


def plan_calls(place: Place, *args: str) -> list[list[str]]:
    """The changing calls `all --what-if --output json` says would run: argv after az."""
    rows = json.loads(place.azwrap("all", *args, "--what-if", "--output", "json", "--quiet").stdout)
    assert all(row["argv"][0] == "az" and row["reason"] for row in rows)
    return [row["argv"][1:] for row in rows if row["changes"]]


def real_calls(place: Place, start: int) -> list[list[str]]:
    """The changing calls a real run made after `start`, secrets and files as a plan shows them."""
    shown = []
    for argv in place.state()["calls"][start:]:
        if any(tuple(argv[: len(p)]) == p for p in PROBES + READS):
            continue
        shown.append([_as_planned(arg) for arg in argv])
    return shown


def _as_planned(arg: str) -> str:
    if arg.startswith("@"):
        return "***"  # the secret's private channel
    if "=@" in arg:
        return arg.split("=@", 1)[0] + "=***"
    if os.path.isabs(arg) and os.path.basename(os.path.dirname(arg)).startswith("azwrap-"):
        return os.path.basename(arg)  # a private file (the v2 datastore's YAML) shows by its name
    return arg


def agree(planned: list[list[str]], real: list[list[str]]) -> bool:
    """The same calls in the same order; a value the plan could not know yet ($sp.appId, the group's new
    azwrap-id tag) matches any."""
    return len(planned) == len(real) and all(
        len(p) == len(r) and all(a == b or re.fullmatch(re.sub(r"\\\$[a-z]+\\\.[A-Za-z]+", ".+", re.escape(a)), b)
                                 for a, b in zip(p, r, strict=True))
        for p, r in zip(planned, real, strict=True))


def fresh(tmp_path) -> Place:
    place = make_place(tmp_path / "fresh")
    sim(place, "login")
    return place


# Starting states: (what is done to a completed setup before the run, the options of the run).
STATES = {
    "complete": ([], []),
    "compute removed": ([["ml", "computetarget", "delete", "--name", "d1compute", "-w", "aml", "-g", "aml-rg"]], []),
    "account removed": ([["storage", "account", "delete", "-n", ACCOUNT, "-g", "adls-rg", "--yes"]], []),
    "upload removed": ([["storage", "fs", "file", "delete", "--file-system", "fs1", "--path",
                         "models/highspenders/input.csv", "--account-name", ACCOUNT, "--yes"]], []),
    "datastore removed": ([["ml", "datastore", "detach", "--name", "MLData", "-w", "aml", "-g", "aml-rg"]], []),
    "storage role removed": ([["role", "assignment", "delete", "--ids", ACC_ID + "/*"]], []),
    "account changed": ([], ["--account", "otherlake"]),
    "filesystem changed": ([], ["--filesystem", "fs2"]),
    "upload path changed": ([], ["--upload-path", "data/in.csv"]),
    "datastore changed": ([], ["--datastore", "MLData2"]),
    "compute changed": ([], ["--compute", "d2compute"]),
    "workspace changed": ([], ["--workspace", "aml2"]),
    "groups changed": ([], ["--aml-group", "ml2-rg", "--adls-group", "adls2-rg", "--account", "lake2"]),
    "principal forced": ([], ["--force", "sp"]),
}


def test_from_a_fresh_start_the_what_if_lists_exactly_what_the_run_does(tmp_path):
    place = fresh(tmp_path)
    planned = plan_calls(place, "--account", ACCOUNT)
    start = len(place.state()["calls"])
    place.azwrap("all", "--account", ACCOUNT, "--quiet")
    real = real_calls(place, start)
    # the book's 12 changing calls and the two groups' azwrap-id tags
    assert len(planned) == 14 and agree(planned, real), (planned, real)


@pytest.mark.parametrize("state", list(STATES))
def test_the_what_if_and_the_real_run_agree(done, tmp_path, state):  # noqa: F811
    place = copy_place(done, tmp_path / "place")
    changes, options = STATES[state]
    for change in changes:
        if change[-1].endswith("/*"):  # a role assignment by its recorded id
            recorded = json.loads((place.cwd / ".azwrap" / "state.json").read_text())["resources"]["storage_role"]["id"]
            change = [*change[:-1], recorded]
        sim(place, *change)
    before = len(place.state()["calls"])
    planned = plan_calls(place, *options)
    assert place.state()["calls"][before:] and all(
        any(tuple(argv[: len(p)]) == p for p in PROBES) for argv in place.state()["calls"][before:])  # read-only
    start = len(place.state()["calls"])
    place.azwrap("all", *options, "--quiet")
    real = real_calls(place, start)
    assert agree(planned, real), "\n".join(map(repr, planned)) + "\n---\n" + "\n".join(map(repr, real))
    assert (planned == []) == (state == "complete")


@pytest.mark.parametrize("option", [["--location", "West Europe"], ["--vm-size", "STANDARD_D2_V2"]])
def test_a_setting_that_cannot_change_what_exists_is_refused_with_nothing_changed(done, tmp_path, option):  # noqa: F811
    place = copy_place(done, tmp_path / "place")
    state_file = place.cwd / ".azwrap" / "state.json"
    recorded = state_file.read_bytes()
    start = len(place.state()["calls"])
    result = place.azwrap("all", *option, "--quiet", ok=(2,))
    assert "nothing was changed" in result.stderr or "does not change an existing" in result.stderr
    assert (("centralus" in result.stderr and "azwrap destroy" in result.stderr) if option[0] == "--location"
            else "compute d1compute exists with vm size STANDARD_D1_V2" in result.stderr)
    assert all(any(tuple(argv[: len(p)]) == p for p in PROBES) for argv in place.state()["calls"][start:])
    assert state_file.read_bytes() == recorded  # the state records only settings that were applied


def test_a_completed_rerun_makes_at_most_8_az_processes_and_changes_nothing(done, tmp_path):  # noqa: F811
    place = copy_place(done, tmp_path / "place")
    start = len(place.state()["calls"])
    result = place.azwrap("all", "--quiet")
    calls = place.state()["calls"][start:]
    assert len(calls) <= 8, calls
    assert all(any(tuple(argv[: len(p)]) == p for p in PROBES) for argv in calls)
    assert result.stderr.count("done earlier, skipped") == 8


@pytest.mark.parametrize("command", [["all"], ["destroy"]])
def test_a_what_if_signed_out_refuses_and_never_signs_in(done, tmp_path, command):  # noqa: F811
    place = copy_place(done, tmp_path / "place")
    sim(place, "logout")
    start = len(place.state()["calls"])
    result = place.azwrap(*command, "--what-if", ok=(2,))
    assert "not signed in: run `azwrap login` (or az login) first" in result.stderr
    calls = place.state()["calls"][start:]
    assert calls == [["account", "show"]], calls  # asked whether signed in; no `az login`, nothing else
    assert place.state()["logged_in"] is False


def test_a_what_if_from_a_fresh_start_signed_out_never_signs_in(tmp_path):
    place = make_place(tmp_path / "fresh")  # the simulator starts signed out
    result = place.azwrap("all", "--account", ACCOUNT, "--what-if", "--output", "json", ok=(2,))
    assert result.stdout == "" and "not signed in: run `azwrap login` (or az login) first" in result.stderr
    assert not any(argv[:1] == ["login"] for argv in place.state()["calls"]) and not place.state()["logged_in"]
    assert not (place.cwd / ".azwrap").exists()


def test_a_what_if_signed_in_to_another_tenant_refuses_and_never_signs_in(tmp_path):
    place = fresh(tmp_path)
    start = len(place.state()["calls"])
    result = place.azwrap("all", "--account", ACCOUNT, "--tenant", "contoso.onmicrosoft.com", "--what-if", ok=(2,))
    assert "not contoso.onmicrosoft.com: run `azwrap login --tenant contoso.onmicrosoft.com`" in result.stderr
    assert place.state()["calls"][start:] == [["account", "show"]]


def test_the_what_if_shows_the_replaced_principals_deletes_pinned_as_they_run(done, tmp_path):  # noqa: F811
    place = copy_place(done, tmp_path / "place")
    rows = json.loads(place.azwrap("all", "--force", "sp", "--what-if", "-o", "json", "--quiet").stdout)
    deletes = {tuple(row["argv"][1:4]): row for row in rows if "delete" in row["argv"][:4]}
    assert deletes[("role", "assignment", "delete")]["argv"][-2:] == ["--subscription", SUB]
    assert deletes[("role", "assignment", "delete")]["command"].endswith(f" --subscription {SUB}")
    assert "--subscription" not in deletes[("ad", "app", "delete")]["argv"]  # Graph takes none
    start = len(place.state()["calls"])
    place.azwrap("all", "--force", "sp", "--quiet")
    ran = [argv for argv in place.state()["calls"][start:] if argv[:3] == ["role", "assignment", "delete"]]
    assert ran == [deletes[("role", "assignment", "delete")]["argv"][1:]]


def test_a_what_if_for_a_subscription_az_does_not_know_refuses_and_never_signs_in(done, tmp_path):  # noqa: F811
    place = copy_place(done, tmp_path / "place")
    start = len(place.state()["calls"])
    result = place.azwrap("all", "--subscription", "nope", "--what-if", ok=(2,))
    assert "not signed in: run `azwrap login` (or az login) first, or give a --subscription that az knows" in result.stderr
    assert place.state()["calls"][start:] == [["account", "show", "--subscription", "nope"]]
