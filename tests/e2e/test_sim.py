"""End-to-end tests of scripts/az-sim, the offline Azure CLI simulator.

POSIX-only: the simulator uses fcntl.flock and the tests send SIGTERM. Each test runs the
simulator as a subprocess with AZSIM_HOME pointing into a pytest temp directory.
"""
import atexit
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

if os.name != "posix":  # pragma: no cover
    pytest.skip("az-sim tests are POSIX-only", allow_module_level=True)

SIM = Path(__file__).resolve().parents[2] / "scripts" / "az-sim"
SUB = "00000000-0000-0000-0000-00000000c0de"


def run(home, *args, env=None, cwd=None, stdin=subprocess.DEVNULL):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("AZSIM_", "AZURE_"))}
    e["AZSIM_HOME"] = str(home)
    e["AZURE_EXTENSION_USE_DYNAMIC_INSTALL"] = "no"
    e.update(env or {})
    return subprocess.run([sys.executable, str(SIM), *args], env=e, cwd=cwd or str(Path(home).parent), stdin=stdin,
                          capture_output=True, text=True, timeout=30)


def ok(home, *args, **kw):
    r = run(home, *args, **kw)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return json.loads(r.stdout) if r.stdout.strip() else None


def state(home):
    return json.loads((Path(home) / "state.json").read_text())


_TEMPLATES = {}


def setup(home, dialect="v1", resources=False):
    """Prepare `home` (logged in, extension, optional book resources) by copying a cached template."""
    key = (dialect, resources)
    if key not in _TEMPLATES:
        tmp = tempfile.mkdtemp(prefix="azsim-tpl-")
        atexit.register(shutil.rmtree, tmp, True)
        tpl = Path(tmp) / "h"
        _build(tpl, dialect, resources)
        _TEMPLATES[key] = tpl
    shutil.copytree(_TEMPLATES[key], home)


def _build(home, dialect, resources):
    ok(home, "login")
    ok(home, "extension", "add", "-n", "azure-cli-ml" if dialect == "v1" else "ml")
    if resources:
        ok(home, "group", "create", "-l", "Central US", "-n", "aml-rg")
        if dialect == "v1":
            ok(home, "ml", "workspace", "create", "-w", "aml", "-g", "aml-rg")
        else:
            ok(home, "ml", "workspace", "create", "-n", "aml", "-g", "aml-rg")
        ok(home, "group", "create", "-l", "centralus", "-n", "adls-rg")
        ok(home, "storage", "account", "create", "-n", "acct1", "-g", "adls-rg", "--hns", "true")
        ok(home, "storage", "fs", "create", "-n", "fs1", "--account-name", "acct1")


@pytest.fixture
def home(tmp_path):
    return tmp_path / "h"


# ------------------------------------------------------------------ parse errors, table-driven
# (dialect, command path, argv with every required flag)
COMMANDS = [
    (None, "login", []),
    (None, "logout", []),
    (None, "account show", []),
    (None, "version", []),
    (None, "config set", ["core.output=json"]),
    (None, "extension add", ["-n", "ml"]),
    (None, "extension show", ["-n", "ml"]),
    (None, "extension list", []),
    (None, "extension remove", ["-n", "ml"]),
    (None, "group create", ["-l", "centralus", "-n", "g"]),
    (None, "group show", ["-n", "g"]),
    (None, "group delete", ["-n", "g", "--yes"]),
    (None, "storage account create", ["-n", "acct", "-g", "g"]),
    (None, "storage account show", ["-n", "acct"]),
    (None, "storage account check-name", ["-n", "acct"]),
    (None, "storage fs create", ["-n", "fs1", "--account-name", "acct"]),
    (None, "storage fs exists", ["-n", "fs1", "--account-name", "acct"]),
    (None, "storage fs show", ["-n", "fs1", "--account-name", "acct"]),
    (None, "storage fs file upload", ["-f", "fs1", "-p", "a/b", "-s", "x", "--account-name", "acct"]),
    (None, "ad sp create-for-rbac", []),
    (None, "ad sp show", ["--id", "x"]),
    (None, "ad sp delete", ["--id", "x"]),
    (None, "role assignment create", ["--role", "Reader", "--assignee", "x", "--scope", "/x"]),
    (None, "role assignment list", []),
    ("v1", "ml workspace create", ["-w", "aml", "-g", "g"]),
    ("v1", "ml workspace show", ["-w", "aml", "-g", "g"]),
    ("v1", "ml computetarget create amlcompute", ["-n", "c", "-s", "STANDARD_D1_V2", "-w", "aml", "-g", "g"]),
    ("v1", "ml computetarget show", ["-n", "c", "-w", "aml", "-g", "g"]),
    ("v1", "ml datastore attach-adls-gen2", ["-a", "acct", "--client-id", "i", "--client-secret", "s",
                                             "--tenant-id", "t", "-c", "fs1", "-n", "d", "-w", "aml", "-g", "g"]),
    ("v1", "ml datastore show", ["-n", "d", "-w", "aml", "-g", "g"]),
    ("v2", "ml workspace create", ["-n", "aml", "-g", "g"]),
    ("v2", "ml workspace show", ["-n", "aml", "-g", "g"]),
    ("v2", "ml compute create", ["-n", "c", "-t", "AmlCompute", "-w", "aml", "-g", "g"]),
    ("v2", "ml compute show", ["-n", "c", "-w", "aml", "-g", "g"]),
    ("v2", "ml datastore create", ["-f", "ds.yml", "-w", "aml", "-g", "g"]),
    ("v2", "ml datastore show", ["-n", "d", "-w", "aml", "-g", "g"]),
]
IDS = ["{}:{}".format(d or "core", p) for d, p, _ in COMMANDS]


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    out = {}
    for d in (None, "v1", "v2"):
        h = tmp_path_factory.mktemp("parse-{}".format(d))
        if d:
            ok(h, "extension", "add", "-n", "azure-cli-ml" if d == "v1" else "ml")
        out[d] = h
    return out


@pytest.mark.parametrize("dialect,path,args", COMMANDS, ids=IDS)
def test_wrong_flag_exits_2(homes, dialect, path, args):
    r = run(homes[dialect], *path.split(), *args, "--bogus-flag", "val")
    assert r.returncode == 2, r.stderr
    assert "ERROR: unrecognized arguments: --bogus-flag val" in r.stderr


@pytest.mark.parametrize("dialect,path,args", [c for c in COMMANDS if c[2]], ids=[i for i, c in zip(IDS, COMMANDS, strict=True)
                                                                                 if c[2]])
def test_missing_required_exits_2(homes, dialect, path, args):
    r = run(homes[dialect], *path.split())
    assert r.returncode == 2, r.stderr
    assert "ERROR: the following arguments are required:" in r.stderr


def test_required_message_lists_aliases(homes):
    r = run(homes[None], "group", "create", "--name", "g")
    assert r.returncode == 2
    assert "the following arguments are required: --location/-l" in r.stderr


def test_parse_errors_beat_login_check(home):
    r = run(home, "group", "create", "-n", "g")
    assert r.returncode == 2


def test_bad_enum_values_exit_2(home):
    setup(home, "v2")
    r = run(home, "storage", "account", "create", "-n", "acct", "-g", "g", "--hns", "maybe")
    assert r.returncode == 2 and "'maybe' is not a valid value for '--enable-hierarchical-namespace'" in r.stderr
    r = run(home, "storage", "fs", "create", "-n", "fs1", "--account-name", "a", "--auth-mode", "token")
    assert r.returncode == 2
    r = run(home, "ml", "compute", "create", "-n", "c", "-t", "Kubernetes", "-w", "aml", "-g", "g")
    assert r.returncode == 2
    r = run(home, "group", "show", "-n", "g", "-o", "xml")
    assert r.returncode == 2
    r = run(home, "ml", "computetarget", "create", "amlcompute", "-n", "c", "-s", "x", "-w", "w", "-g", "g")
    assert r.returncode == 2 and "'computetarget' is misspelled" in r.stderr  # v1 command under v2


def test_value_flag_followed_by_option_like_token(home):
    setup(home)
    r = run(home, "group", "create", "-l", "centralus", "-n", "-weird")
    assert r.returncode == 2 and "expected one argument" in r.stderr
    assert ok(home, "group", "create", "-l", "centralus", "--name=-weird")["name"] == "-weird"


def test_unknown_command_and_missing_extension(home):
    ok(home, "login")
    r = run(home, "xyz", "list")
    assert r.returncode == 2 and "ERROR: 'xyz' is misspelled or not recognized by the system." in r.stderr
    r = run(home, "ml", "workspace", "show", "-n", "a", "-g", "b")
    assert r.returncode == 2 and "'ml' is misspelled or not recognized by the system." in r.stderr
    r = run(home, "ml", "workspace", "show", "-n", "a", "-g", "b",
            env={"AZURE_EXTENSION_USE_DYNAMIC_INSTALL": "yes_prompt"})
    assert r.returncode == 2 and "requires the extension ml" in r.stderr


# ------------------------------------------------------------------ not found -> 3
def test_show_missing_exits_3(home):
    setup(home, "v1", resources=True)
    cases = [
        ["group", "show", "-n", "nope"],
        ["storage", "account", "show", "-n", "acct1", "-g", "aml-rg"],
        ["storage", "fs", "show", "-n", "nope", "--account-name", "acct1"],
        ["ad", "sp", "show", "--id", "00000000-0000-0000-0000-000000000001"],
    ]
    for args in cases:
        r = run(home, *args)
        assert r.returncode == 3, (args, r.stderr)
        assert "ERROR: " in r.stderr
    # REFERENCE.md section 7: without --resource-group a validator fails first (exit 2), and the v1
    # extension's "not found" is an ordinary SDK error (exit 1), not az's 3.
    r = run(home, "storage", "account", "show", "-n", "nope")
    assert r.returncode == 2, r.stderr
    for args in (["ml", "workspace", "show", "-w", "nope", "-g", "aml-rg"],
                 ["ml", "computetarget", "show", "-n", "nope", "-w", "aml", "-g", "aml-rg"],
                 ["ml", "datastore", "show", "-n", "nope", "-w", "aml", "-g", "aml-rg"]):
        r = run(home, *args)
        assert r.returncode == 1 and "not found" in r.stderr, (args, r.stderr)
    r = run(home, "group", "show", "-n", "nope")
    assert "(ResourceGroupNotFound) Resource group 'nope' could not be found." in r.stderr


def test_storage_account_show_without_its_group_exits_2_for_a_missing_account(home):
    # REFERENCE.md section 7: the book's `storage account show --name A` (no --resource-group) fails at
    # parse time when the account is missing; with --resource-group it is show's not-found 3.
    setup(home, "v1", resources=True)
    r = run(home, "storage", "account", "show", "--name", "nope")
    assert r.returncode == 2 and "'nope' was not found" in r.stderr
    assert run(home, "storage", "account", "show", "--name", "nope", "--resource-group", "adls-rg").returncode == 3


def test_show_missing_v2_exits_3(home):
    setup(home, "v2", resources=True)
    for args in (["ml", "workspace", "show", "-n", "nope", "-g", "aml-rg"],
                 ["ml", "compute", "show", "-n", "nope", "-w", "aml", "-g", "aml-rg"],
                 ["ml", "datastore", "show", "-n", "nope", "-w", "aml", "-g", "aml-rg"]):
        assert run(home, *args).returncode == 3, args


# ------------------------------------------------------------------ conflicts -> 1
def test_group_location_conflict(home):
    setup(home)
    g = ok(home, "group", "create", "-l", "Central US", "-n", "rg1")
    assert g["location"] == "centralus" and g["id"] == "/subscriptions/{}/resourceGroups/rg1".format(SUB)
    assert ok(home, "group", "create", "-l", "centralus", "-n", "RG1")["name"] == "rg1"
    r = run(home, "group", "create", "-l", "westus", "-n", "rg1")
    assert r.returncode == 1 and "(InvalidResourceGroupLocation)" in r.stderr


def test_storage_account_rules(home):
    setup(home)
    ok(home, "group", "create", "-l", "centralus", "-n", "g1")
    ok(home, "group", "create", "-l", "centralus", "-n", "g2")
    r = run(home, "storage", "account", "create", "-n", "acct1", "-g", "missing")
    assert r.returncode == 1 and "ResourceGroupNotFound" in r.stderr
    r = run(home, "storage", "account", "create", "-n", "Bad_Name", "-g", "g1")
    assert r.returncode == 1 and "(AccountNameInvalid)" in r.stderr
    a = ok(home, "storage", "account", "create", "-n", "acct1", "-g", "g1", "--hns")
    assert a["isHnsEnabled"] is True and a["id"].endswith("/resourceGroups/g1/providers/Microsoft.Storage/"
                                                          "storageAccounts/acct1")
    assert ok(home, "storage", "account", "create", "-n", "acct1", "-g", "g1")["id"] == a["id"]  # PUT
    r = run(home, "storage", "account", "create", "-n", "acct1", "-g", "g2")
    assert r.returncode == 1 and "(StorageAccountAlreadyTaken) The storage account named acct1 is already taken." \
        in r.stderr
    r = run(home, "storage", "account", "create", "-n", "popular", "-g", "g1",
            env={"AZSIM_TAKEN_ACCOUNTS": "x,popular"})
    assert r.returncode == 1 and "already taken" in r.stderr
    chk = ok(home, "storage", "account", "check-name", "-n", "fresh1")
    assert chk == {"message": None, "nameAvailable": True, "reason": None}
    assert ok(home, "storage", "account", "check-name", "-n", "acct1")["reason"] == "AlreadyExists"
    assert ok(home, "storage", "account", "check-name", "-n", "A-B")["reason"] == "AccountNameInvalid"


def test_filesystem_and_upload(home):
    setup(home, resources=True)
    assert ok(home, "storage", "fs", "exists", "-n", "fs1", "--account-name", "acct1") == {"exists": True}
    assert ok(home, "storage", "fs", "exists", "-n", "fs2", "--account-name", "acct1") == {"exists": False}
    r = run(home, "storage", "fs", "create", "-n", "fs1", "--account-name", "acct1")
    assert r.returncode == 1 and "ContainerAlreadyExists" in r.stderr
    r = run(home, "storage", "fs", "create", "-n", "fs1", "--account-name", "nosuch")
    assert r.returncode == 1
    src = Path(home) / "input.csv"
    src.write_text("a,b\n1,2\n")
    up = ["storage", "fs", "file", "upload", "-f", "fs1", "-p", "models/x/input.csv", "-s", str(src),
          "--account-name", "acct1"]
    out = ok(home, *up)
    assert out["content_length"] == 8
    r = run(home, *up)
    assert r.returncode == 1 and "already exists" in r.stderr
    src.write_text("changed")
    ok(home, *up, "--overwrite")
    f = state(home)["files"]["acct1/fs1/models/x/input.csv"]
    assert f["size"] == 7 and len(f["sha256"]) == 64
    r = run(home, "storage", "fs", "file", "upload", "-f", "fs1", "-p", "p", "-s", "missing.csv",
            "--account-name", "acct1")
    assert r.returncode == 1


def test_workspace_and_compute_v1(home):
    setup(home, "v1")
    r = run(home, "ml", "workspace", "create", "-w", "aml", "-g", "aml-rg")
    assert r.returncode == 1  # group missing
    ok(home, "group", "create", "-l", "Central US", "-n", "aml-rg")
    ws = ok(home, "ml", "workspace", "create", "--workspace-name", "aml", "--location", "Central US",
            "--resource-group", "aml-rg")
    assert ws["id"] == ("/subscriptions/{}/resourceGroups/aml-rg/providers/Microsoft.MachineLearningServices/"
                        "workspaces/aml".format(SUB))
    assert ws["sku"] == "Basic" and ws["resourceGroup"] == "aml-rg" and ws["friendlyName"] == "aml"
    assert run(home, "ml", "workspace", "create", "-w", "aml", "-g", "aml-rg").returncode == 1
    ok(home, "ml", "workspace", "create", "-w", "aml", "-g", "aml-rg", "--exist-ok")
    assert ok(home, "ml", "workspace", "show", "-w", "aml", "-g", "aml-rg")["id"] == ws["id"]
    cc = ["ml", "computetarget", "create", "amlcompute", "--max-nodes", "1", "--name", "d1compute",
          "--vm-size", "STANDARD_D1_V2", "--workspace-name", "aml", "--resource-group", "aml-rg"]
    ok(home, *cc)
    assert run(home, *cc).returncode == 1
    assert run(home, "ml", "computetarget", "create", "amlcompute", "-n", "c2", "-s", "x", "--max-nodes", "0",
               "-w", "aml", "-g", "aml-rg").returncode == 1
    assert run(home, "ml", "computetarget", "create", "amlcompute", "-n", "c2", "-s", "x", "-w", "nows",
               "-g", "aml-rg").returncode == 1
    c = state(home)["computes"]["aml-rg/aml/d1compute"]
    assert (c["type"], c["vm_size"], c["max_nodes"], c["min_nodes"]) == ("AmlCompute", "STANDARD_D1_V2", 1, 0)


def test_workspace_and_compute_v2(home):
    setup(home, "v2")
    ok(home, "group", "create", "-l", "centralus", "-n", "aml-rg")
    ws = ok(home, "ml", "workspace", "create", "--name", "aml", "-g", "aml-rg", "--display-name", "First")
    assert ws["resource_group"] == "aml-rg" and ws["display_name"] == "First"
    ws2 = ok(home, "ml", "workspace", "create", "--name", "aml", "-g", "aml-rg", "--display-name", "Second")
    assert ws2["id"] == ws["id"] and ws2["display_name"] == "Second"  # create updates
    c = ok(home, "ml", "compute", "create", "-n", "d1compute", "--type", "amlcompute", "--size", "STANDARD_D1_V2",
           "--max-instances", "1", "-w", "aml", "-g", "aml-rg")
    assert c["max_instances"] == 1 and c["type"] == "amlcompute"
    ok(home, "ml", "compute", "create", "-n", "d1compute", "-t", "AmlCompute", "--max-instances", "3",
       "-w", "aml", "-g", "aml-rg")
    assert state(home)["computes"]["aml-rg/aml/d1compute"]["max_nodes"] == 3
    assert ok(home, "ml", "compute", "show", "-n", "d1compute", "-w", "aml", "-g", "aml-rg")["size"] == \
        "STANDARD_D1_V2"


def test_extensions_and_an_invented_message_when_the_two_ml_extensions_meet(home):
    # REFERENCE.md section 5 says they cannot be installed side by side; the wording of the refusal is ours.
    ok(home, "extension", "add", "-n", "azure-cli-ml")
    r = run(home, "extension", "add", "-n", "azure-cli-ml")
    assert r.returncode == 0 and "WARNING" in r.stderr
    r = run(home, "extension", "add", "-n", "ml")
    assert r.returncode == 1 and "az extension remove -n azure-cli-ml" in r.stderr
    assert run(home, "extension", "add", "-n", "no-such-ext").returncode == 1
    r = run(home, "extension", "show", "-n", "ml")
    assert r.returncode == 1 and "The extension ml is not installed." in r.stderr
    assert ok(home, "version")["extensions"] == {"azure-cli-ml": "1.41.0"}
    ok(home, "extension", "remove", "-n", "azure-cli-ml")
    ok(home, "extension", "add", "-n", "ml")
    assert [e["name"] for e in ok(home, "extension", "list")] == ["ml"]
    r = run(home, "extension", "add", "-n", "azure-cli-ml")
    assert r.returncode == 1 and "az extension remove -n ml" in r.stderr
    assert state(home)["extensions"] == {"ml": {"version": "2.30.0"}}


# ------------------------------------------------------------------ RBAC
def test_create_for_rbac_and_role_assignment(home):
    setup(home, resources=True)
    r1, r2 = run(home, "ad", "sp", "create-for-rbac"), run(home, "ad", "sp", "create-for-rbac")
    for r in (r1, r2):
        assert r.returncode == 0
        assert "WARNING: The output includes credentials that you must protect." in r.stderr
    sp1, sp2 = json.loads(r1.stdout), json.loads(r2.stdout)
    assert set(sp1) == {"appId", "displayName", "password", "tenant"}
    assert sp1["appId"] != sp2["appId"] and sp1["password"] != sp2["password"]
    assert sp1["displayName"].startswith("azure-cli-") and len(sp1["password"]) >= 30
    assert len(state(home)["service_principals"]) == 2
    acc = ok(home, "storage", "account", "show", "--name", "acct1")
    args = ["role", "assignment", "create", "--role", "Storage Blob Data Contributor", "--assignee",
            sp1["appId"], "--scope", acc["id"]]
    a1 = ok(home, *args)
    assert a1["principalType"] == "ServicePrincipal" and a1["scope"] == acc["id"]
    assert a1["id"].startswith(acc["id"] + "/providers/Microsoft.Authorization/roleAssignments/")
    assert ok(home, *args)["id"] == a1["id"]  # existing assignment returned
    assert len(state(home)["role_assignments"]) == 1
    r = run(home, "role", "assignment", "create", "--role", "Wizard", "--assignee", sp1["appId"], "--scope",
            acc["id"])
    assert r.returncode == 1 and "Role 'Wizard' doesn't exist." in r.stderr
    r = run(home, "role", "assignment", "create", "--role", "Reader", "--assignee", "nobody", "--scope", acc["id"])
    assert r.returncode == 1 and "Cannot find user or service principal in graph database for 'nobody'" in r.stderr
    r = run(home, "role", "assignment", "create", "--role", "Reader", "--assignee", sp1["appId"], "--scope",
            acc["id"].replace("acct1", "acct9"))
    assert r.returncode == 1
    # az-facts section 9: without --all (or --scope) only assignments at the subscription itself are listed.
    assert ok(home, "role", "assignment", "list", "--assignee", sp1["appId"]) == []
    lst = ok(home, "role", "assignment", "list", "--assignee", sp1["appId"], "--all")
    assert [x["roleDefinitionName"] for x in lst] == ["Storage Blob Data Contributor"]
    assert ok(home, "ad", "sp", "show", "--id", sp2["appId"])["appId"] == sp2["appId"]
    ok(home, "ad", "sp", "delete", "--id", sp2["appId"])
    assert run(home, "ad", "sp", "show", "--id", sp2["appId"]).returncode == 3


# ------------------------------------------------------------------ datastores
def test_datastore_v1_never_prints_secret(home):
    setup(home, "v1", resources=True)
    base = ["ml", "datastore", "attach-adls-gen2", "--account-name", "acct1", "--client-id", "cid",
            "--client-secret", "S3cr~t", "--tenant-id", "tid", "--file-system", "fs1", "--name", "MLData",
            "--workspace-name", "aml", "--resource-group", "aml-rg"]
    r = run(home, *base)
    assert r.returncode == 0 and "S3cr~t" not in r.stdout
    assert run(home, *[x if x != "acct1" else "nosuch" for x in base]).returncode == 1
    shown = run(home, "ml", "datastore", "show", "-n", "MLData", "-w", "aml", "-g", "aml-rg")
    assert shown.returncode == 0 and "S3cr~t" not in shown.stdout
    d = state(home)["datastores"]["aml-rg/aml/MLData"]
    assert d["client_secret"] == "S3cr~t" and d["api"] == "v1" and d["type"] == "azure_data_lake_gen2"
    summ = run(home, "--summary")
    assert summ.returncode == 0 and "S3cr~t" not in summ.stdout and "MLData" in summ.stdout


def test_datastore_v2_yaml_and_set_with_an_invented_validation_message(home):
    setup(home, "v2", resources=True)
    yml = Path(home) / "ds.yml"
    yml.write_text("$schema: https://azuremlschemas.azureedge.net/latest/azureDataLakeGen2.schema.json\n"
                   "# comment\nname: MLData\ntype: azure_data_lake_gen2\naccount_name: acct1\n"
                   "filesystem: 'fs1'\ncredentials:\n  tenant_id: \"tid\"\n  client_id: cid\n")
    base = ["ml", "datastore", "create", "--file", str(yml), "-w", "aml", "-g", "aml-rg"]
    r = run(home, *base)
    assert r.returncode == 1 and "credentials.client_secret" in r.stderr
    sec = Path(home) / "secret.txt"
    sec.write_text("pa~ss\n")
    out = ok(home, *base, "--set", "credentials.client_secret=@" + str(sec))
    assert "pa~ss" not in json.dumps(out) and out["filesystem"] == "fs1"
    d = state(home)["datastores"]["aml-rg/aml/MLData"]
    assert (d["client_secret"], d["tenant_id"], d["api"]) == ("pa~ss", "tid", "v2")
    assert ["--set", "credentials.client_secret=@" + str(sec)] == state(home)["calls"][-1][-2:]
    yml.write_text(yml.read_text().replace("azure_data_lake_gen2", "azure_blob"))
    assert run(home, *base, "--set", "credentials.client_secret=x").returncode == 1


# ------------------------------------------------------------------ @file
def test_at_file_expansion_forms(home):
    setup(home)
    p = Path(home) / "loc.txt"
    p.write_text("westus\n\n")
    assert ok(home, "group", "create", "-l", "@" + str(p), "-n", "g1")["location"] == "westus"
    assert ok(home, "group", "create", "--location=@" + str(p), "-n", "g2")["location"] == "westus"
    ok(home, "config", "set", "sim.value=@" + str(p))
    assert state(home)["config"]["sim.value"] == "westus"
    # az leaves an unreadable @path untouched ("assume not a file")
    missing = "@" + str(Path(home) / "missing")
    ok(home, "config", "set", "sim.other=" + missing)
    assert state(home)["config"]["sim.other"] == missing
    # ... and a group in the location "@..." is refused: no such region
    r = run(home, "group", "create", "-l", missing, "-n", "g3")
    assert r.returncode == 1 and "LocationNotAvailableForResourceGroup" in r.stderr
    assert ["group", "create", "-l", "@" + str(p), "-n", "g1"] in state(home)["calls"]


# ------------------------------------------------------------------ login / output
def test_not_logged_in(home):
    r = run(home, "group", "create", "-l", "centralus", "-n", "g")
    assert r.returncode == 1 and "ERROR: Please run 'az login' to setup account." in r.stderr
    assert run(home, "account", "show").returncode == 1
    assert ok(home, "version")["azure-cli"] == "2.91.0"
    ok(home, "config", "set", "core.output=json")
    ok(home, "extension", "add", "-n", "ml")
    st = state(home)
    assert st["logged_in"] is False and st["groups"] == {} and len(st["calls"]) == 5
    subs = ok(home, "login")
    assert subs[0]["id"] == SUB and subs[0]["isDefault"] is True and subs[0]["user"]["type"] == "user"
    acc = ok(home, "account", "show")
    assert acc["id"] == SUB and acc["tenantId"] == subs[0]["tenantId"]


def test_output_formats(home):
    setup(home)
    ok(home, "config", "set", "core.output=table")
    r = run(home, "group", "create", "-l", "centralus", "-n", "g")
    assert r.returncode == 0
    with pytest.raises(ValueError):
        json.loads(r.stdout)
    assert ok(home, "group", "show", "-n", "g", env={"AZURE_CORE_OUTPUT": "json"})["name"] == "g"
    assert ok(home, "group", "show", "-n", "g", "-o", "json")["name"] == "g"
    r = run(home, "group", "show", "-n", "g", "--query", "id", "-o", "tsv")
    assert r.stdout.strip() == "/subscriptions/{}/resourceGroups/g".format(SUB)


def test_group_delete_cascades(home):
    setup(home, "v1", resources=True)
    sp = ok(home, "ad", "sp", "create-for-rbac")
    acc = ok(home, "storage", "account", "show", "-n", "acct1")
    ok(home, "role", "assignment", "create", "--role", "Reader", "--assignee", sp["appId"], "--scope", acc["id"])
    assert run(home, "group", "delete", "-n", "adls-rg").returncode == 1  # no tty, no --yes
    ok(home, "group", "delete", "-n", "adls-rg", "--yes")
    st = state(home)
    assert "adls-rg" not in st["groups"] and "acct1" not in st["storage_accounts"] and st["filesystems"] == {}
    assert [a["resource_group"] for a in st["storage_accounts"].values()] == ["aml-rg"]  # the workspace's own
    assert st["role_assignments"] == [] and "aml-rg/aml" in st["workspaces"]


def test_state_file_permissions_and_reset(home):
    setup(home)
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(Path(home) / "state.json").st_mode) == 0o600
    assert "AZSIM_FAIL_MATCH" in run(home, "--help").stdout
    assert run(home, "--reset").returncode == 0
    st = state(home)
    assert st["logged_in"] is False and st["extensions"] == {} and st["calls"] == []


# ------------------------------------------------------------------ concurrency
def test_parallel_group_creates_all_land(home):
    ok(home, "login")
    e = {k: v for k, v in os.environ.items() if not k.startswith(("AZSIM_", "AZURE_"))}
    e["AZSIM_HOME"] = str(home)
    procs = [subprocess.Popen([sys.executable, str(SIM), "group", "create", "-l", "centralus", "-n", "g%d" % i],
                              env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for i in range(8)]
    assert all(p.wait(timeout=30) == 0 for p in procs)
    st = state(home)
    assert sorted(st["groups"]) == sorted("g%d" % i for i in range(8))
    assert len(st["calls"]) == 9


# ------------------------------------------------------------------ fault knobs
def test_fail_match_nth(home):
    setup(home)
    env = {"AZSIM_FAIL_MATCH": "group create", "AZSIM_FAIL_NTH": "2", "AZSIM_FAIL_EXIT": "7",
           "AZSIM_FAIL_STDERR": "ERROR: boom"}
    ok(home, "group", "create", "-l", "centralus", "-n", "a", env=env)
    r = run(home, "group", "create", "-l", "centralus", "-n", "b", env=env)
    assert r.returncode == 7 and r.stderr.strip() == "ERROR: boom"
    ok(home, "group", "create", "-l", "centralus", "-n", "c", env=env)
    st = state(home)
    assert sorted(st["groups"]) == ["a", "c"]
    assert st["calls"][-2] == ["group", "create", "-l", "centralus", "-n", "b"]


def test_replication_delay_per_principal_and_scope_alternates_graph_and_arm_errors(home):
    # REFERENCE.md section 4: right after create-for-rbac, role assignments fail for a while. The
    # texts are az's: azure-cli's Graph lookup of the appId, and ARM's PrincipalNotFound (az 2.9x).
    setup(home, "v1", resources=True)
    sp = ok(home, "ad", "sp", "create-for-rbac")
    acc = ok(home, "storage", "account", "show", "-n", "acct1")
    aml = ok(home, "ml", "workspace", "show", "-w", "aml", "-g", "aml-rg")
    env = {"AZSIM_GRAPH_DELAY": "3"}
    graph = ("ERROR: Cannot find user or service principal in graph database for '{0}'. If the assignee is an appId, "
             "make sure the corresponding service principal is created with 'az ad sp create --id {0}'.")
    object_id = state(home)["service_principals"][sp["appId"]]["id"].replace("-", "")

    def attempts(scope, role):
        args = ["role", "assignment", "create", "--role", role, "--assignee", sp["appId"], "--scope", scope]
        results = [run(home, *args, env=env) for _ in range(4)]
        return [(r.returncode, r.stderr.splitlines()[0] if r.returncode else json.loads(r.stdout)["scope"]) for r in results]

    arm = (f"ERROR: (PrincipalNotFound) Principal {object_id} does not exist in the directory "
           "00000000-0000-0000-0000-000000007e1a. Check that you have the correct principal ID. If you are creating "
           "this principal and then immediately assigning a role, this error might be related to a replication "
           "delay. In this case, set the role assignment principalType property to a value, such as "
           "ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype")  # fmt: skip
    for scope, role in ((acc["id"], "Storage Blob Data Contributor"), (aml["id"], "Contributor")):
        assert attempts(scope, role) == [(1, graph.format(sp["appId"])), (1, arm), (1, graph.format(sp["appId"])), (0, scope)]
    assert len(state(home)["role_assignments"]) == 2
    r = run(home, "role", "assignment", "create", "--role", "Reader", "--assignee", sp["appId"], "--scope", acc["id"],
            env=env)  # fmt: skip
    assert r.returncode == 0  # that scope has replicated: another role there needs no wait
    other = ok(home, "ad", "sp", "create-for-rbac")  # a new principal replicates afresh
    r = run(home, "role", "assignment", "create", "--role", "Reader", "--assignee", other["appId"], "--scope",
            acc["id"], env=env)  # fmt: skip
    assert r.returncode == 1 and "Cannot find user or service principal in graph database" in r.stderr


def test_garbage_output(home):
    setup(home)
    r = run(home, "group", "create", "-l", "centralus", "-n", "g", env={"AZSIM_GARBAGE_MATCH": "group create"})
    assert r.returncode == 0
    with pytest.raises(ValueError):
        json.loads(r.stdout)
    assert "g" in state(home)["groups"]


def traced(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().split("\n")[:-1]] if path.exists() else []  # whole lines


def test_latency_profile_longest_prefix_wins_and_scales(home):
    setup(home)
    trace = Path(home).parent / "trace"
    env = {"AZSIM_LATENCY_PROFILE": json.dumps({"group": 100, "group create": 0.004, "group show": 0.002}),
           "AZSIM_CLOCK_SCALE": "0.5", "AZSIM_TRACE": str(trace)}  # fmt: skip
    ok(home, "group", "create", "-l", "centralus", "-n", "slow", env=env)
    ok(home, "group", "show", "-n", "slow", env=env)
    assert [(t["argv"][:2], t["sleep"]) for t in traced(trace)] == [(["group", "create"], 0.002), (["group", "show"], 0.001)]


def test_sigterm_during_the_latency_sleep_exits_143_and_changes_nothing(home):
    setup(home)
    before = state(home)
    trace = Path(home).parent / "trace"
    e = {k: v for k, v in os.environ.items() if not k.startswith(("AZSIM_", "AZURE_"))}
    e.update({"AZSIM_HOME": str(home), "AZSIM_LATENCY": "30", "AZSIM_TRACE": str(trace)})
    p = subprocess.Popen([sys.executable, str(SIM), "group", "create", "-l", "centralus", "-n", "killed"], env=e,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while not traced(trace):  # the call has started its 30 s sleep: its signal handlers are set
            assert p.poll() is None, p.communicate()
            time.sleep(0.01)
        assert traced(trace) == [{"pid": p.pid, "argv": ["group", "create", "-l", "centralus", "-n", "killed"], "sleep": 30.0}]
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 143
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert state(home) == before


def test_sim_bin_wrapper_runs_as_az(home):
    wrapper = SIM.parent / "sim-bin" / "az"
    assert os.access(wrapper, os.X_OK)
    e = {k: v for k, v in os.environ.items() if not k.startswith(("AZSIM_", "AZURE_"))}
    e["AZSIM_HOME"] = str(home)
    e["PATH"] = str(wrapper.parent) + os.pathsep + os.path.dirname(sys.executable) + os.pathsep + e.get("PATH", "")
    r = subprocess.run(["sh", "-c", 'az version'], env=e, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and json.loads(r.stdout)["azure-cli"] == "2.91.0"


TYPED = ["123456", "null", "yes", "on", "2024", "1e3", "0x1f", "~", "off", "012", "true"]


@pytest.mark.parametrize("value", TYPED)
def test_datastore_v2_rejects_a_bare_value_yaml_reads_as_no_string(home, value):
    """The ml extension's schema fields are strings: YAML's 123456, yes, null... are refused, quoted ones pass."""
    setup(home, "v2", resources=True)
    yml = Path(home) / "ds.yml"
    body = ("name: MLData\ntype: azure_data_lake_gen2\naccount_name: acct1\nfilesystem: {}\n"
            "credentials:\n  tenant_id: tid\n  client_id: cid\n")  # fmt: skip
    base = ["ml", "datastore", "create", "--file", str(yml), "-w", "aml", "-g", "aml-rg", "--set",
            "credentials.client_secret=s3cr~t"]  # fmt: skip
    yml.write_text(body.format(value))
    refused = run(home, *base)
    assert refused.returncode == 1
    assert '"filesystem": ["Not a valid string."]' in refused.stderr or "Missing data for required field" in refused.stderr
    yml.write_text(body.format("'" + value + "'"))
    ok(home, *base)
    assert state(home)["datastores"]["aml-rg/aml/MLData"]["filesystem"] == value


# ------------------------------------------------------------------ the principal's lifecycle
def test_app_credential_reset_replaces_the_secret_and_the_datastore_then_needs_the_new_one(home):
    setup(home, "v1", resources=True)
    sp = ok(home, "ad", "sp", "create-for-rbac")
    attach = ["ml", "datastore", "attach-adls-gen2", "--account-name", "acct1", "--client-id", sp["appId"],
              "--tenant-id", sp["tenant"], "--file-system", "fs1", "--name", "MLData", "-w", "aml", "-g", "aml-rg"]
    wrong = run(home, *attach, "--client-secret", "not-the-secret")
    assert wrong.returncode == 1 and "AADSTS7000215" in wrong.stderr
    ok(home, *attach, "--client-secret", sp["password"])
    [cred] = ok(home, "ad", "app", "credential", "list", "--id", sp["appId"])
    assert cred["hint"] == sp["password"][:3] and cred["secretText"] is None and cred["endDateTime"] > "2026"
    new = ok(home, "ad", "app", "credential", "reset", "--id", sp["appId"])
    assert set(new) == {"appId", "password", "tenant"} and new["password"] != sp["password"]
    assert len(ok(home, "ad", "app", "credential", "list", "--id", sp["appId"])) == 1  # the old one is gone
    ok(home, "ml", "datastore", "detach", "--name", "MLData", "-w", "aml", "-g", "aml-rg")
    assert run(home, "ml", "datastore", "detach", "--name", "MLData", "-w", "aml", "-g", "aml-rg").returncode == 1
    assert run(home, *attach, "--client-secret", sp["password"]).returncode == 1  # the old secret no longer works
    ok(home, *attach, "--client-secret", new["password"])
    appended = ok(home, "ad", "app", "credential", "reset", "--id", sp["appId"], "--append", "--years", "2")
    assert len(ok(home, "ad", "app", "credential", "list", "--id", sp["appId"])) == 2 and appended["password"]
    both = run(home, "ad", "app", "credential", "reset", "--id", sp["appId"], "--years", "1", "--end-date", "2030-01-01")
    assert both.returncode == 1 and "usage error: --years | --end-date" in both.stderr
    ok(home, "ad", "app", "credential", "reset", "--id", sp["appId"], "--end-date", "2026-01-01")
    [expired] = ok(home, "ad", "app", "credential", "list", "--id", sp["appId"])
    assert expired["endDateTime"].startswith("2026-01-01")


def test_a_failed_reset_may_leave_the_app_without_any_password(home):
    setup(home)
    sp = ok(home, "ad", "sp", "create-for-rbac")
    failed = run(home, "ad", "app", "credential", "reset", "--id", sp["appId"], env={"AZSIM_RESET_FAIL_AFTER_REMOVE": "1"})
    assert failed.returncode == 1
    assert ok(home, "ad", "app", "credential", "list", "--id", sp["appId"]) == []  # not atomic: old ones gone


def test_app_delete_removes_the_principal_not_its_role_assignments(home):
    setup(home, "v1", resources=True)
    sp = ok(home, "ad", "sp", "create-for-rbac")
    account = ok(home, "storage", "account", "show", "--name", "acct1")
    made = ok(home, "role", "assignment", "create", "--role", "Contributor", "--assignee", sp["appId"],
              "--scope", account["id"])  # fmt: skip
    assert ok(home, "ad", "app", "delete", "--id", sp["appId"]) is None
    assert run(home, "ad", "sp", "show", "--id", sp["appId"]).returncode == 3
    missing = run(home, "ad", "app", "delete", "--id", sp["appId"])  # Graph's not-found is exit 1 (REFERENCE.md 8)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert run(home, "ad", "app", "credential", "reset", "--id", sp["appId"]).returncode == 1
    assert [r["id"] for r in state(home)["role_assignments"]] == [made["id"]]  # left behind: delete those first
    ok(home, "role", "assignment", "delete", "--ids", made["id"])
    assert state(home)["role_assignments"] == []


def test_an_at_path_that_cannot_be_opened_is_passed_on_literally_and_an_inherited_pipe_is_read(home):
    setup(home, "v1", resources=True)
    base = ["ml", "datastore", "attach-adls-gen2", "--account-name", "acct1", "--client-id", "cid", "--tenant-id", "tid",
            "--file-system", "fs1", "-w", "aml", "-g", "aml-rg"]  # fmt: skip
    ok(home, *base, "--name", "Literal", "--client-secret", "@/dev/fd/987")  # no such descriptor: silently literal
    assert state(home)["datastores"]["aml-rg/aml/Literal"]["client_secret"] == "@/dev/fd/987"
    read_end, write_end = os.pipe()
    os.write(write_end, b"pipe-secret")
    os.close(write_end)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZSIM_", "AZURE_"))}
    env.update(AZSIM_HOME=str(home), AZURE_EXTENSION_USE_DYNAMIC_INSTALL="no")
    argv = [sys.executable, str(SIM), *base, "--name", "Piped", "--client-secret", f"@/dev/fd/{read_end}"]
    done = subprocess.run(argv, env=env, pass_fds=(read_end,), capture_output=True, text=True, timeout=30)
    os.close(read_end)
    assert done.returncode == 0, done.stderr
    assert state(home)["datastores"]["aml-rg/aml/Piped"]["client_secret"] == "pipe-secret"
    assert state(home)["calls"][-1][-1] == f"@/dev/fd/{read_end}"  # the raw argv is recorded, not the secret


# REFERENCE.md section 8: what az prints when another az holds the MSAL token cache's lock, by platform.
TOKEN_LOCK_TEXTS = {
    "windows": "[Errno 13] Permission denied: 'C:\\\\Users\\\\me\\\\.azure\\\\msal_token_cache.bin.lockfile'",
    "portalocker": "portalocker.exceptions.LockException: [Errno 11] Resource temporarily unavailable",
    "msal": "Unable to obtain lock, despite trying for 5 second(s)",
}


@pytest.mark.parametrize("kind", TOKEN_LOCK_TEXTS)
def test_token_lock_fails_the_first_calls_that_need_a_token_after_reading_their_files(home, kind):
    setup(home, "v1", resources=True)
    env = {"AZSIM_TOKEN_LOCK": kind, "AZSIM_TOKEN_LOCK_COUNT": "2", "AZSIM_TOKEN_LOCK_MATCH": "attach-adls-gen2"}
    assert run(home, "account", "show", env=env).returncode == 0  # reads the cache only: no token, no lock
    secret = Path(home).parent / "secret"
    secret.write_text("file-secret")
    attach = ["ml", "datastore", "attach-adls-gen2", "--account-name", "acct1", "--client-id", "cid", "--tenant-id",
              "tid", "--file-system", "fs1", "-w", "aml", "-g", "aml-rg", "--name", "D", "--client-secret", f"@{secret}"]
    for _ in range(2):
        locked = run(home, *attach, env=env)
        assert locked.returncode == 1
        assert locked.stderr.startswith("ERROR: The command failed with an unexpected error. Here is the traceback:\n")
        assert TOKEN_LOCK_TEXTS[kind] in locked.stderr
        assert "D" not in {k.split("/")[-1] for k in state(home)["datastores"]}
    ok(home, *attach, env=env)  # the third gets the lock
    assert state(home)["datastores"]["aml-rg/aml/D"]["client_secret"] == "file-secret"


@pytest.mark.parametrize(("fields", "expected"), [(None, {"expiresOn", "expires_on"}), ("expires_on", {"expires_on"}),
                                                  ("expiresOn", {"expiresOn"})])  # fmt: skip
def test_the_token_expiry_fields_of_get_access_token(home, fields, expected):
    setup(home)
    token = ok(home, "account", "get-access-token", env={"AZSIM_TOKEN_EXPIRY": fields} if fields else None)
    assert {"expiresOn", "expires_on"} & set(token) == expected
    if "expires_on" in token:
        assert isinstance(token["expires_on"], int) and token["expires_on"] > time.time()  # POSIX seconds
    both = ok(home, "account", "get-access-token", "--query", "[expires_on, expiresOn]",
              env={"AZSIM_TOKEN_EXPIRY": fields} if fields else None)  # fmt: skip
    assert [value is not None for value in both] == ["expires_on" in expected, "expiresOn" in expected]
