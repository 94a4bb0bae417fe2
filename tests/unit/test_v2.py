"""--ml-cli v2: the current ml extension's commands (REFERENCE.md section 5) in place of the book's az ml."""

import json
import os
import stat

import pytest

from . import powershell
from .conftest import (SUB, ANY, OWN, normalised, ACC_ID, ACCOUNT, AML_ID, ARM, BOOK, COMPUTE_ID, DATASTORE_ID, FRESH_ALL, GROUP_LIST, LIST_LOCATIONS,
                       LOCATIONS, MY_ROLES, SECRET, SP, TOKEN_EXPIRES, TOKEN_EXPIRY, VERSION_CALL, absent, doctor_calls, refresh_probes,
                       resources_show, role_assignment, seed_state, step_record, succeeded)  # fmt: skip

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
V2_YAML = (
    "$schema: 'https://azuremlschemas.azureedge.net/latest/azureDataLakeGen2.schema.json'\n"
    "name: 'MLData'\n"
    "type: 'azure_data_lake_gen2'\n"
    f"account_name: '{ACCOUNT}'\n"
    "filesystem: 'fs1'\n"
    "credentials:\n"
    f"  tenant_id: '{SP['tenant']}'\n"
    f"  client_id: '{SP['appId']}'\n"
)

# The v2 sequence, written out from REFERENCE.md section 5: only the extension and `az ml` change.
V2_ML = {
    1: ["extension", "add", "-n", "ml"],
    3: ["ml", "workspace", "create", "--name", "aml", "--location", "Central US", "--resource-group", "aml-rg"],
    4: ["ml", "compute", "create", "--name", "d1compute", "--type", "AmlCompute", "--size", "STANDARD_D1_V2",
        "--max-instances", "1", "--workspace-name", "aml", "--resource-group", "aml-rg"],
    12: ["ml", "datastore", "create", "--file", ANY, "--set", ANY, "--workspace-name", "aml", "--resource-group", "aml-rg"],
    13: ["ml", "workspace", "show", "--name", "aml", "--resource-group", "aml-rg"],
}  # fmt: skip
# The refresh's probes are the same in both dialects: core commands whose not-found is az's own
# (`az resource show` of ARM ids, `az group list`, `az version`), written out in conftest.
V2_BOOK = [(step, V2_ML.get(i, args)) for i, (step, args) in enumerate(BOOK)]


class FileSpy:
    """Reads, while the fake az runs, the files named by --file and by --set ...=@file."""

    def __init__(self):
        self.yaml = self.secret = None
        self.modes, self.paths, self.kinds = [], [], []

    def __call__(self, process):
        argv = process.args
        yaml_path = argv[argv.index("--file") + 1]
        secret_path = argv[argv.index("--set") + 1].split("=@", 1)[1]
        for path in (yaml_path, secret_path):
            self.modes.append(stat.S_IMODE(os.stat(path).st_mode))
            self.kinds.append("pipe" if stat.S_ISFIFO(os.stat(path).st_mode) else "file")
            self.paths.append(path)
        self.yaml = open(yaml_path, encoding="utf-8").read()
        self.secret = open(secret_path, encoding="utf-8").read()
        self.set_arg = argv[argv.index("--set") + 1]


def register_v2(fake, spy):
    """A fresh `all --ml-cli v2`: the refresh finding nothing, then the v2 sequence."""
    for args in FRESH_ALL:
        fake.on(args, **absent(args))
    for index, (step, args) in enumerate(V2_BOOK):
        if step == "login":
            continue
        if ANY in args:
            fake.register(args, callback=spy)
        else:
            fake.on(args)
        for own, answer in OWN.get(index, ()):  # azwrap's own call after a creation
            fake.on(own, stdout=json.dumps(answer))


def test_all_v2_runs_the_v2_sequence_and_passes_the_secret_by_pipe(fake, cli, workdir):
    fake.doctor()
    spy = FileSpy()
    register_v2(fake, spy)
    result = cli("all", "--account", ACCOUNT, "--ml-cli", "v2")
    assert result.exit_code == 0, result.output
    expected = [own for index, (step, args) in enumerate(V2_BOOK) if step != "login"
                for own in [args, *(own for own, _ in OWN.get(index, ()))]]  # fmt: skip
    assert fake.calls()[:len(doctor_calls(ml_cli="v2"))] == doctor_calls(ml_cli="v2")  # no extension index for v2
    calls = normalised(fake.calls()[len(doctor_calls(ml_cli="v2")):])
    chosen_paths = [[ANY if i and call[i - 1] in ("--file", "--set") else a for i, a in enumerate(call)] for call in calls]
    assert chosen_paths == expected
    # The YAML of REFERENCE.md section 5 without the secret, a 0600 file; the secret alone in its own pipe.
    assert spy.yaml == V2_YAML and SECRET not in spy.yaml
    assert spy.secret == SECRET
    assert spy.set_arg.startswith("credentials.client_secret=@")
    assert spy.modes[0] == 0o600 and spy.kinds == ["file", "pipe"]
    assert not any(os.path.exists(path) for path in spy.paths)  # deleted right after the call
    assert all(SECRET not in arg for call in fake.calls() for arg in call)
    assert SECRET not in result.output
    roles = [c for c in calls if c[:3] == ["role", "assignment", "create"]]
    assert [r[r.index("--scope") + 1] for r in roles] == [ACC_ID, AML_ID]


def installed(*extensions: tuple[str, str]) -> str:
    """`az version` with these extensions installed."""
    return json.dumps({"azure-cli": "2.91.0", "azure-cli-core": "2.91.0", "extensions": dict(extensions)})


def test_v2_refuses_while_the_v1_extension_is_installed_and_says_how_to_remove_it(fake, cli, workdir):
    fake.on(VERSION_CALL, stdout=installed(("azure-cli-ml", "1.41.0")))
    result = cli("extension", "--ml-cli", "v2")
    assert result.exit_code == 2
    assert "az extension remove --name azure-cli-ml" in result.stderr
    assert fake.calls() == [VERSION_CALL]  # nothing removed, nothing added


def test_v1_refuses_while_the_v2_extension_is_installed(fake, cli, workdir):
    fake.on(VERSION_CALL, stdout=installed(("ml", "2.30.0")))
    result = cli("extension")
    assert result.exit_code == 2
    assert "az extension remove --name ml" in result.stderr


def test_all_v2_with_the_v1_extension_stops_before_any_change(fake, cli, workdir):
    fake.on(["account", "show"], stdout=json.dumps({"id": SUB, "name": "s"}))
    fake.on(TOKEN_EXPIRY, stdout=TOKEN_EXPIRES)
    fake.on(VERSION_CALL, stdout=installed(("azure-cli-ml", "1.41.0")))
    fake.on(GROUP_LIST, stdout="[]")
    fake.on(LIST_LOCATIONS, stdout=json.dumps(LOCATIONS))
    fake.on(["storage", "account", "check-name", "--name", ACCOUNT], stdout='{"nameAvailable": true}')
    result = cli("all", "--account", ACCOUNT, "--ml-cli", "v2")
    assert result.exit_code == 2
    # The plan refuses, from the refresh's `az version`, before doctor and before any change.
    assert "the azure-cli-ml extension (v1) is installed" in result.stderr
    assert "az extension remove --name azure-cli-ml" in result.stderr
    assert fake.calls() == [["account", "show"], TOKEN_EXPIRY, VERSION_CALL, GROUP_LIST]


def test_switching_dialect_says_which_steps_run_again(fake, cli, workdir):
    fake.doctor()
    fake.book()
    assert cli("all", "--account", ACCOUNT).exit_code == 0
    fake.fp.calls.clear()
    fake.logged_in()
    # The refresh finds the setup v1 made (the same ARM resources in both dialects), but the user
    # removed azure-cli-ml; the datastore v1 attached (azwrap did, as the state records): v2's create replaces it.
    fake.present(installed=False)
    fake.on(MY_ROLES, stdout=json.dumps([role_assignment("Owner")]))  # doctor: grant assigns a role again
    fake.on(V2_ML[1])
    spy = FileSpy()
    fake.register(V2_ML[12], callback=spy)
    fake.on(V2_ML[13], stdout=json.dumps({"id": AML_ID, "name": "aml"}))
    fake.on(BOOK[14][1])
    result = cli("all", "--account", ACCOUNT, "--ml-cli", "v2")
    assert result.exit_code == 0, result.output
    calls = [[ANY if i and call[i - 1] in ("--file", "--set") else a for i, a in enumerate(call)] for call in fake.calls()]
    # the workspace and compute are found (not made again in the other dialect); the rest is v2's
    assert calls == [["account", "show"], *(args for args, _ in refresh_probes()), MY_ROLES, V2_ML[1], V2_ML[12],
                     V2_ML[13], BOOK[14][1]]  # fmt: skip
    summary = next(line for line in result.stderr.splitlines() if "will run again" in line)
    for step in ("extension", "workspace", "compute", "datastore", "grant"):
        assert f"{step} (settings changed since it ran: ml_cli 'v1' -> 'v2')" in summary
    for step in ("storage", "upload", "sp"):
        assert f"{step}: done earlier, skipped" in result.stderr
    assert spy.secret == SECRET


def test_an_existing_compute_of_another_size_is_not_silently_kept(fake, cli, workdir):
    seed_state(workdir, done=["extension", "workspace"])
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, **absent(TOKEN_EXPIRY))
    fake.on(resources_show(COMPUTE_ID), stdout=json.dumps(ARM["compute"]))  # az resource show prints ARM's shape
    result = cli("compute", "--ml-cli", "v2", "--max-nodes", "3")
    assert result.exit_code == 2
    assert "exists with vm size STANDARD_D1_V2 and at most 1 node(s), not STANDARD_D1_V2 and 3" in result.stderr
    assert "az ml compute delete --name d1compute" in result.stderr
    assert fake.calls() == [["account", "show"], TOKEN_EXPIRY, resources_show(COMPUTE_ID)]


def test_v2_plan_json_has_the_datastore_yaml_and_the_secret_reference(cli):
    commands = json.loads(succeeded(cli("plan", "--format", "json", "--account", ACCOUNT, "--ml-cli", "v2")).stdout)
    assert len(commands) == 15
    datastore = commands[12]
    assert datastore["argv"][:5] == ["az", "ml", "datastore", "create", "--file"]
    assert datastore["argv"][5:8] == ["mldata.yml", "--set", "credentials.client_secret=$sp.password"]
    assert datastore["files"]["mldata.yml"] == V2_YAML.replace(SP["tenant"], "$sp.tenant").replace(SP["appId"], "$sp.appId")
    assert [c["argv"][1:] for i, c in enumerate(commands) if i in V2_ML and i != 12] == [
        V2_ML[i] for i in sorted(V2_ML) if i != 12]


def test_v2_powershell_plan_writes_the_yaml_then_runs_the_book(cli):
    script = succeeded(cli("plan", "--shell", "powershell", "--account", ACCOUNT, "--ml-cli", "v2")).stdout
    assert powershell.errors(script) == []
    head, tail = V2_YAML.rstrip("\n").split(SP["tenant"])
    middle, end = tail.split(SP["appId"])
    assert powershell.files_written(script) == {"mldata.yml": powershell.Expanded(
        (head, powershell.Var("$sp.tenant"), middle, powershell.Var("$sp.appId"), *([end] if end else [])))}
    commands = [argv for _, argv in powershell.az_commands(script)]
    secret = powershell.Expanded(("credentials.client_secret=", powershell.Var("$sp.password")))
    assert commands[12] == ["az", "ml", "datastore", "create", "--file", "mldata.yml", "--set", secret,
                            "--workspace-name", "aml", "--resource-group", "aml-rg"]  # fmt: skip
    assert [c[1:] for i, c in enumerate(commands) if i in V2_ML and i != 12] == [V2_ML[i] for i in sorted(V2_ML) if i != 12]


@pytest.mark.parametrize("shell,path", [("powershell", "scripts/v2.ps1"), ("bash", "scripts/v2.sh")])
def test_checked_in_v2_scripts_are_current(shell, path, cli):
    current = succeeded(cli("plan", "--ml-cli", "v2", "--shell", shell, "--account", ACCOUNT)).stdout
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        assert handle.read() == current, f"{path} is stale: run `make scripts`"


@pytest.mark.parametrize("value", ["123456", "null", "yes", "on", "2024", "1e3", "0x1f", "~", "it's", "a: b", "#x"])
def test_every_datastore_yaml_value_reads_back_as_the_same_string(value):
    import yaml

    from azwrap.book.commands import Ref
    from azwrap.book.ml import v2_datastore_yaml
    from azwrap.book.settings import Settings

    settings = Settings(account=value, filesystem=value, datastore=value)
    text = "".join(part if isinstance(part, str) else {"appId": SP["appId"], "tenant": SP["tenant"]}[part.field]
                   for part in v2_datastore_yaml(settings))  # fmt: skip
    assert not any(isinstance(part, Ref) and part.secret for part in v2_datastore_yaml(settings))
    loaded = yaml.safe_load(text)
    assert (loaded["name"], loaded["account_name"], loaded["filesystem"]) == (value, value, value)
    assert loaded["credentials"] == {"tenant_id": SP["tenant"], "client_id": SP["appId"]}



def _recorded(workdir, datastore_done: bool):
    from .conftest import ACC_ID as acc_id

    steps = {"sp": {"settings": {"account": ACCOUNT}}, **step_record("extension", "workspace", "storage")}
    resources = {}
    if datastore_done:
        resources["datastore"] = {"created": True, "dialect": "v2",
                                  "settings": {"datastore": "MLData", "workspace": "aml", "aml_group": "aml-rg"}}
        steps["datastore"] = {"settings": {"account": ACCOUNT, "filesystem": "fs1", "datastore": "MLData",
                                           "workspace": "aml", "aml_group": "aml-rg", "ml_cli": "v2"},
                              "inputs": {"$sp.appId": "0b0b0b0b-1111-2222-3333-444455556666"}}  # fmt: skip
    (workdir / ".azwrap").mkdir(mode=0o700)
    (workdir / ".azwrap" / "state.json").write_text(json.dumps({"version": 1, "steps": steps, "outputs": {
        "sp": {k: SP[k] for k in ("appId", "password", "tenant")}, "acc": {"id": acc_id}}, "resources": resources}))


def _datastore_json(client_id):
    """`az resource show` of datastore MLData (ARM's shape, whichever dialect made it)."""
    datastore = json.loads(json.dumps(ARM["datastore"]))
    datastore["properties"]["credentials"]["clientId"] = client_id
    return json.dumps(datastore)


def _datastore_refresh(fake, client_id):
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, **absent(TOKEN_EXPIRY))
    fake.on(resources_show(DATASTORE_ID), stdout=_datastore_json(client_id))


DATASTORE_REFRESH = [["account", "show"], TOKEN_EXPIRY, resources_show(DATASTORE_ID)]


def test_v2_refuses_to_replace_a_datastore_azwrap_did_not_create(fake, cli, workdir):
    _recorded(workdir, datastore_done=False)
    _datastore_refresh(fake, "c01eag0e-0000-0000-0000-000000000000")
    result = cli("datastore", "--account", ACCOUNT, "--ml-cli", "v2")
    assert result.exit_code == 2, result.output
    assert "datastore MLData exists in workspace aml" in result.stderr and "not made by azwrap" in result.stderr
    assert "az ml datastore delete --name MLData" in result.stderr
    assert fake.calls() == DATASTORE_REFRESH  # nothing replaced


def test_v2_replaces_a_datastore_it_created_when_its_principal_changed(fake, cli, workdir):
    _recorded(workdir, datastore_done=True)
    spy = FileSpy()
    _datastore_refresh(fake, "0b0b0b0b-1111-2222-3333-444455556666")  # the old principal
    fake.register(V2_ML[12], callback=spy)
    result = cli("datastore", "--account", ACCOUNT, "--ml-cli", "v2")
    assert result.exit_code == 0, result.output
    assert "running again: the service principal it used has changed" in result.stderr
    assert spy.secret == SECRET
    assert fake.calls()[:3] == DATASTORE_REFRESH and len(fake.calls()) == 4  # no delete first: create replaces it


def test_v2_keeps_a_datastore_already_attached_with_the_recorded_principal(fake, cli, workdir):
    _recorded(workdir, datastore_done=False)
    _datastore_refresh(fake, SP["appId"])
    result = cli("datastore", "--account", ACCOUNT, "--ml-cli", "v2")
    assert result.exit_code == 0, result.output
    assert "datastore MLData exists already, not created again" in result.stderr
    assert fake.calls() == DATASTORE_REFRESH
