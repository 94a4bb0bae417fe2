"""Unit-test fixtures: azwrap's CLI through CliRunner, every child process faked with fp."""

from __future__ import annotations

import json
import os
import signal
import stat

import pytest
from click.testing import CliRunner

from azwrap.book.commands import with_subscription
from azwrap.cli import main

SUB = "00000000-0000-0000-0000-00000000c0de"
ACCOUNT = "mydatalake"
SECRET = "Qk8~s3cr3t.Zx_9yW-vT2uR1pO0nM8lK7jH6gF5dS"
SP = {"appId": "6f1c2a9e-0d3b-4e57-9a1c-2b3c4d5e6f70", "displayName": "azure-cli-2026-11-26-06-00-00",
      "password": SECRET, "tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47"}  # fmt: skip
ACC_ID = f"/subscriptions/{SUB}/resourceGroups/adls-rg/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}"
AML_ID = f"/subscriptions/{SUB}/resourceGroups/aml-rg/providers/Microsoft.MachineLearningServices/workspaces/aml"
ACCOUNT_SHOW = {"environmentName": "AzureCloud", "id": SUB, "isDefault": True, "name": "Pay-As-You-Go",
                "state": "Enabled", "tenantId": SP["tenant"], "user": {"name": "me@example.com", "type": "user"}}  # fmt: skip
ACC_SHOW = {"id": ACC_ID, "name": ACCOUNT, "kind": "StorageV2", "isHnsEnabled": True, "location": "centralus",
            "resourceGroup": "adls-rg", "type": "Microsoft.Storage/storageAccounts"}  # fmt: skip
AML_SHOW = {"id": AML_ID, "name": "aml", "location": "centralus", "resourceGroup": "aml-rg", "sku": "Basic"}
RBAC_WARNING = ("WARNING: The output includes credentials that you must protect. Be sure that you do not include "
                "these credentials in your code or check the credentials into your source control. "
                "For more information, see https://aka.ms/azadsp-cli")  # fmt: skip
NOT_LOGGED_IN = "ERROR: Please run 'az login' to setup account."
SECRET_FILE = object()  # stands for the --client-secret @file argument in expected argv
NEW_ID = object()  # stands for the azwrap-id=<value> tag azwrap makes up for a group it creates
ANY = object()  # stands for an argument azwrap chooses (a temporary file's path)

# The book's 15 invocations (REFERENCE.md section 1) for account mydatalake and the defaults,
# written out by hand: what azwrap runs must equal this, not what azwrap's own builders say.
BOOK = [
    ("login", ["login"]),
    ("extension", ["extension", "add", "-n", "azure-cli-ml"]),
    ("workspace", ["group", "create", "--location", "Central US", "--name", "aml-rg"]),
    ("workspace", ["ml", "workspace", "create", "--workspace-name", "aml", "--location", "Central US",
                   "--resource-group", "aml-rg"]),
    ("compute", ["ml", "computetarget", "create", "amlcompute", "--max-nodes", "1", "--name", "d1compute",
                 "--vm-size", "STANDARD_D1_V2", "--workspace-name", "aml", "--resource-group", "aml-rg"]),
    ("storage", ["group", "create", "--location", "Central US", "--name", "adls-rg"]),
    ("storage", ["storage", "account", "create", "--name", ACCOUNT, "--resource-group", "adls-rg",
                 "--enable-hierarchical-namespace", "true"]),
    ("storage", ["storage", "fs", "create", "--account-name", ACCOUNT, "--name", "fs1"]),
    ("upload", ["storage", "fs", "file", "upload", "--file-system", "fs1", "--path",
                "models/highspenders/input.csv", "--source", "input.csv", "--account-name", ACCOUNT]),
    ("sp", ["ad", "sp", "create-for-rbac"]),
    ("sp", ["storage", "account", "show", "--name", ACCOUNT]),
    ("sp", ["role", "assignment", "create", "--role", "Storage Blob Data Contributor", "--assignee", SP["appId"],
            "--scope", ACC_ID]),
    ("datastore", ["ml", "datastore", "attach-adls-gen2", "--account-name", ACCOUNT, "--client-id", SP["appId"],
                   "--client-secret", SECRET_FILE, "--tenant-id", SP["tenant"], "--file-system", "fs1",
                   "--name", "MLData", "--workspace-name", "aml", "--resource-group", "aml-rg"]),
    ("grant", ["ml", "workspace", "show", "--workspace-name", "aml", "--resource-group", "aml-rg"]),
    ("grant", ["role", "assignment", "create", "--role", "Contributor", "--assignee", SP["appId"], "--scope", AML_ID]),
]  # fmt: skip

NOT_FOUND = {"returncode": 3, "stdout": "", "stderr": "ERROR: (ResourceNotFound) The Resource was not found.\n"}
FAIL = {"returncode": 1, "stdout": "", "stderr": "WARNING: a warning first\nERROR: (Conflict) injected failure\n"}

VERSION = {"azure-cli": "2.91.0", "azure-cli-core": "2.91.0", "azure-cli-telemetry": "1.1.0", "extensions": {}}
NAME_AVAILABLE = {"message": None, "nameAvailable": True, "reason": None}


# doctor's read-only probes (README "doctor"), written out by hand.
TOKEN_EXPIRY = ["account", "get-access-token", "--query", "[expires_on, expiresOn]"]
# az 2.91's answer to it: expires_on (POSIX seconds) and the deprecated expiresOn (local time).
TOKEN_EXPIRES = '[\n  1796119200,\n  "2026-12-01 10:00:00.000000"\n]'

LIST_AVAILABLE = ["extension", "list-available"]
LIST_LOCATIONS = ["account", "list-locations"]
MY_ROLES = ["role", "assignment", "list", "--assignee", ACCOUNT_SHOW["user"]["name"], "--include-inherited",
            "--include-groups"]  # fmt: skip
LOCATIONS = [{"name": "centralus", "displayName": "Central US", "regionalDisplayName": "(US) Central US",
              "id": f"/subscriptions/{SUB}/locations/centralus", "type": "Region"},
             {"name": "westeurope", "displayName": "West Europe", "regionalDisplayName": "(Europe) West Europe",
              "id": f"/subscriptions/{SUB}/locations/westeurope", "type": "Region"}]  # fmt: skip
OFFERED = [{"experimental": False, "installed": False, "name": name, "preview": False, "summary": "...", "version": v}
           for name, v in (("azure-cli-ml", "1.41.0"), ("ml", "2.30.0"))]  # fmt: skip

# The refresh's read-only probes (README "Refresh"), written out by hand: batched where az allows.
VERSION_CALL = ["version"]
GROUP_LIST = ["group", "list"]
COMPUTE_ID = AML_ID + "/computes/d1compute"
DATASTORE_ID = AML_ID + "/datastores/MLData"
SP_SHOW = ["ad", "sp", "show", "--id", SP["appId"]]
ROLES_OF_SP = ["role", "assignment", "list", "--assignee", SP["appId"], "--all"]
FILE_EXISTS = ["storage", "fs", "file", "exists", "--file-system", "fs1", "--path", "models/highspenders/input.csv",
               "--account-name", ACCOUNT]  # fmt: skip
FS_EXISTS = ["storage", "fs", "exists", "--name", "fs1", "--account-name", ACCOUNT]
ROLE_ID = ACC_ID + "/providers/Microsoft.Authorization/roleAssignments/1"  # what the fake's role create prints


def resources_show(*ids: str) -> list[str]:
    return ["resource", "show", "--ids", *ids]


def tag_group(name: str) -> list:
    return ["tag", "update", "--resource-id", f"/subscriptions/{SUB}/resourceGroups/{name}", "--operation", "Merge",
            "--tags", NEW_ID]  # fmt: skip


CREDENTIALS = ["ad", "app", "credential", "list", "--id", SP["appId"]]


def key_id_read(app_id: str) -> list[str]:
    """azwrap's own call right after create-for-rbac: the new password's key id."""
    return ["ad", "app", "credential", "list", "--id", app_id]
KEY_ID = "9c1f00aa-2b3c-4d5e-8f90-112233445566"


def group(name: str, location: str = "centralus", tags=None) -> dict:
    """One item of `az group list`."""
    return {"id": f"/subscriptions/{SUB}/resourceGroups/{name}", "name": name, "location": location,
            "tags": tags, "managedBy": None, "properties": {"provisioningState": "Succeeded"}}  # fmt: skip


# The live resources of a completed setup, as `az resource show` prints them (ARM's shape).
ARM = {
    "workspace": {"id": AML_ID, "name": "aml", "location": "centralus",
                  "type": "Microsoft.MachineLearningServices/workspaces", "properties": {"workspaceId": "w1"}},
    "compute": {"id": COMPUTE_ID, "name": "d1compute", "location": "centralus",
                "properties": {"createdOn": "2026-12-01T10:02:00.1234567Z",
                               "properties": {"vmSize": "STANDARD_D1_V2", "scaleSettings": {"maxNodeCount": 1}}}},
    "account": {"id": ACC_ID, "name": ACCOUNT, "location": "centralus", "kind": "StorageV2",
                "properties": {"isHnsEnabled": True, "creationTime": "2026-12-01T10:00:00.1234560Z"}},
    "datastore": {"id": DATASTORE_ID, "name": "MLData",
                  "properties": {"datastoreType": "AzureDataLakeGen2", "accountName": ACCOUNT, "filesystem": "fs1",
                                 "credentials": {"credentialsType": "ServicePrincipal", "clientId": SP["appId"],
                                                 "tenantId": SP["tenant"]}}},
}  # fmt: skip
ARM_IDS = {"workspace": AML_ID, "compute": COMPUTE_ID, "account": ACC_ID, "datastore": DATASTORE_ID}
ROLES = [{"id": ROLE_ID, "roleDefinitionName": "Storage Blob Data Contributor", "scope": ACC_ID},
         {"id": AML_ID + "/providers/Microsoft.Authorization/roleAssignments/2", "roleDefinitionName": "Contributor",
          "scope": AML_ID}]  # fmt: skip


def role_assignment(role: str, scope: str = f"/subscriptions/{SUB}", condition=None) -> dict:
    """One item of `az role assignment list` for the signed-in user, in az's shape."""
    return {"condition": condition, "conditionVersion": "2.0" if condition else None, "id": f"{scope}/providers/"
            "Microsoft.Authorization/roleAssignments/1", "name": "1", "principalId": "5e1",
            "principalName": ACCOUNT_SHOW["user"]["name"], "principalType": "User", "roleDefinitionName": role,
            "roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/8e3a",
            "scope": scope, "type": "Microsoft.Authorization/roleAssignments"}  # fmt: skip


# azwrap's own calls right after a creation (docs/reference.md, "Identity"), by the BOOK index they follow:
# the group's azwrap-id tag, ARM's identity of the workspace and the compute, the key id of the new secret.
OWN = {
    2: [(tag_group("aml-rg"), {"id": f"/subscriptions/{SUB}/resourceGroups/aml-rg/providers/Microsoft.Resources/tags/default",
                               "name": "default", "properties": {"tags": {"azwrap-id": "x"}}})],
    3: [(resources_show(AML_ID), ARM["workspace"])],
    4: [(resources_show(COMPUTE_ID), ARM["compute"])],
    5: [(tag_group("adls-rg"), {"id": f"/subscriptions/{SUB}/resourceGroups/adls-rg/providers/Microsoft.Resources/tags/default",
                                "name": "default", "properties": {"tags": {"azwrap-id": "y"}}})],
    9: [(CREDENTIALS, [{"keyId": KEY_ID, "displayName": "rbac", "hint": SECRET[:3], "endDateTime": "2027-12-01T00:00:00Z"}])],
}  # fmt: skip


def doctor_calls(logged_in=True, ml_cli="v1", installed=False) -> list[list[str]]:
    """What a fresh `azwrap all` runs before the book's steps: `az login` if needed, the refresh (nothing
    is there yet), then doctor's checks of what the plan creates."""
    probe = [["account", "show"]]
    sign_in = probe if logged_in else probe + [["login"], ["account", "show"]]
    offered = [LIST_AVAILABLE] if ml_cli == "v1" and not installed else []  # v1's extension, not installed: still offered?
    return sign_in + FRESH_ALL + [*offered, LIST_LOCATIONS, ["storage", "account", "check-name", "--name", ACCOUNT],
                                  MY_ROLES]  # fmt: skip


# The refresh of a fresh `azwrap all`: a token, the extensions, the groups (none there: nothing in them is asked).
FRESH_ALL = [TOKEN_EXPIRY, VERSION_CALL, GROUP_LIST]
# The refresh of each step command run alone with the steps it needs recorded done (and nothing of its
# own): only what its guards read.
FRESH_STEP = {
    "extension": [VERSION_CALL],
    "workspace": [TOKEN_EXPIRY, GROUP_LIST],
    "compute": [TOKEN_EXPIRY, resources_show(COMPUTE_ID)],
    "storage": [TOKEN_EXPIRY, GROUP_LIST],
    "upload": [TOKEN_EXPIRY, FILE_EXISTS],  # its guard: a file there already is not uploaded over
    "sp": [TOKEN_EXPIRY],
    "datastore": [TOKEN_EXPIRY, resources_show(DATASTORE_ID)],
    "grant": [TOKEN_EXPIRY],
}
# What each of those probes answers when nothing is there yet.
ABSENT = {tuple(TOKEN_EXPIRY): {"stdout": TOKEN_EXPIRES},
          tuple(VERSION_CALL): {"stdout": json.dumps(VERSION)},
          tuple(GROUP_LIST): {"stdout": "[]"},
          tuple(FILE_EXISTS): {"stdout": json.dumps({"exists": False})}}  # fmt: skip


def file_exists_call(path: str, filesystem: str = "fs1", account: str = ACCOUNT) -> list[str]:
    """The upload's guard: is a file at the upload path already?"""
    return ["storage", "fs", "file", "exists", "--file-system", filesystem, "--path", path, "--account-name", account]


def absent(args) -> dict:
    return ABSENT.get(tuple(args), NOT_FOUND)


# What az prints on stdout for each invocation, in the real shapes (only these keys matter).
OUTPUTS = {
    "login": [ACCOUNT_SHOW | {"cloudName": "AzureCloud"}],
    "create-for-rbac": SP,
    "storage account create": {**ACC_SHOW, "creationTime": "2026-12-01T10:00:00.123456+00:00"},
    "storage account show": ACC_SHOW,
    "ml workspace show": AML_SHOW,
    "role assignment create": {"id": ACC_ID + "/providers/Microsoft.Authorization/roleAssignments/1", "principalType": "ServicePrincipal"},
}


def step_record(*names: str) -> dict:
    """State records of steps done earlier (what a step's prerequisites need), with the book's settings."""
    return {name: {"done_at": "2026-12-01T10:00:00+00:00", "settings": {}} for name in names}


def seed_state(workdir, *, done=(), sp=False, path=".azwrap/state.json") -> None:
    """The state earlier sessions left: steps `done` recorded, and `azwrap sp`'s principal if sp."""
    path = workdir / path
    state_dir = path.parent
    state_dir.mkdir(mode=0o700, exist_ok=True)
    (state_dir / ".gitignore").write_text("*\n")
    outputs = {"sp": {k: SP[k] for k in ("appId", "password", "tenant")}} if sp else {}
    path.write_text(json.dumps({"version": 1, "steps": step_record(*done), "outputs": outputs}))
    path.chmod(0o600)


def stdout_for(args) -> str:
    text = " ".join(a for a in args if isinstance(a, str))
    for key, value in OUTPUTS.items():
        if key in text:
            return json.dumps(value, indent=2)
    return json.dumps({"name": args[-1], "provisioningState": "Succeeded"}, indent=2)


def pin(args) -> list:
    """args as a run sends them once it has checked the subscription: with --subscription where az takes it."""
    return list(with_subscription(tuple(args), SUB))


class FakeAz:
    """Registers az invocations with fp, at the az path azwrap resolves."""

    def __init__(self, fp, path: str):
        self.fp, self.path = fp, path
        self.secret_file_contents: list[str] = []
        self.secret_file_modes: list[int] = []
        self.secret_file_kinds: list[str] = []

    def argv(self, args) -> list:
        return [self.path, *(self.fp.any(min=1, max=1) if a is SECRET_FILE or a is NEW_ID or a is ANY else a
                             for a in args)]  # fmt: skip

    def register(self, args, **answer):
        """fp.register of args (ANY, SECRET_FILE, NEW_ID matching any one argument), as az is called before
        the subscription check and after it (with the setup's --subscription on ARM calls)."""
        pinned = with_subscription(tuple(args), SUB)
        if tuple(pinned) != tuple(args):
            self.fp.register(self.argv(pinned), **answer)
        return self.fp.register(self.argv(args), **answer)

    def on(self, args, *, stdout=None, stderr=None, returncode=0, callback=None):
        if stdout is None and returncode == 0:
            stdout = stdout_for(args)
        # fp leaves a faked process's output unread when a callback is set, so the @file check
        # goes only on successful calls whose output azwrap does not read (datastore attach).
        if SECRET_FILE in args and callback is None and returncode == 0 and not stderr:
            callback = self._read_secret_file
        return self.register(args, stdout=stdout, stderr=stderr, returncode=returncode, callback=callback)

    def _read_secret_file(self, process):
        # Runs while azwrap waits for "az": the @file must exist now, private, holding the secret.
        argv = process.args
        path = argv[argv.index("--client-secret") + 1].removeprefix("@")
        info = os.stat(path)
        self.secret_file_modes.append(stat.S_IMODE(info.st_mode))
        self.secret_file_kinds.append("pipe" if stat.S_ISFIFO(info.st_mode) else "file")
        with open(path, encoding="utf-8") as handle:
            self.secret_file_contents.append(handle.read())

    def logged_in(self, yes: bool = True):
        if yes:
            self.on(["account", "show"], stdout=json.dumps(ACCOUNT_SHOW))
        else:
            self.on(["account", "show"], returncode=1, stderr=NOT_LOGGED_IN + "\n", stdout="")

    def doctor(self, *, logged_in: bool = True, installed: bool = False):
        """Register the sign-in `azwrap all` begins with (`az login` first if need be) and doctor's checks of
        what a fresh run creates, all passing (the refresh's probes: book() or present()).
        installed: azure-cli-ml is installed (a setup done earlier)."""
        self.logged_in(logged_in)
        if not logged_in:
            self.on(["login"])
            self.logged_in(True)
        self.on(LIST_AVAILABLE, stdout=json.dumps(OFFERED))
        self.on(LIST_LOCATIONS, stdout=json.dumps(LOCATIONS))
        self.on(["storage", "account", "check-name", "--name", ACCOUNT], stdout=json.dumps(NAME_AVAILABLE))
        self.on(MY_ROLES, stdout=json.dumps([role_assignment("Owner")]))

    def book(self, steps=None, *, login=False, fail_at=None, fail=None):
        """Register a fresh run of the book's invocations (of the named steps), after the refresh's probes
        finding nothing there.

        With fail_at (an index into BOOK), that invocation fails with `fail` and nothing after it
        is registered.
        """
        if steps is not None and set(steps) - {"login", "extension"}:
            self.logged_in()  # a step command checks the subscription before it changes anything
        for args in FRESH_ALL if steps is None else [a for step in steps if step != "login" for a in FRESH_STEP[step]]:
            self.on(args, **absent(args))
        for index, (step, args) in enumerate(BOOK):
            if not (steps is None and (login or step != "login") or steps and step in steps):
                continue
            if index == fail_at:
                return self.on(args, **(fail or FAIL))
            self.on(args, stderr=RBAC_WARNING + "\n" if "create-for-rbac" in args else None)
            for own, answer in OWN.get(index, ()):
                self.on(own, stdout=json.dumps(answer))

    def present(self, installed: bool = True) -> None:
        """Register the refresh of a completed setup: each probe finds what azwrap made."""
        for args, answer in refresh_probes(installed):
            self.on(args, stdout=json.dumps(answer))

    def calls(self, pinned: bool = False) -> list[list[str]]:
        """argv of every az call made, without the az path; without `pinned`, without the setup's
        `--subscription` that a run adds to each ARM call (test_all checks it goes on each)."""
        calls = [list(call)[1:] for call in self.fp.calls]
        return calls if pinned else [call[:-2] if call[-2:] == ["--subscription", SUB] else call for call in calls]


def refresh_probes(installed: bool = True) -> list[tuple[list[str], object]]:
    """The refresh of a completed setup, in order (one at a time), each with the answer of a setup that
    is all there: 7 calls after `az account show`."""
    versions = {**VERSION, "extensions": {"azure-cli-ml": "1.41.0"} if installed else {}}
    return [(TOKEN_EXPIRY, json.loads(TOKEN_EXPIRES)), (VERSION_CALL, versions),
            (GROUP_LIST, [group("aml-rg"), group("adls-rg")]), (SP_SHOW, {"appId": SP["appId"], "id": "0b"}),
            (resources_show(*ARM_IDS.values()), list(ARM.values())), (ROLES_OF_SP, ROLES), (FILE_EXISTS, {"exists": True})]


def expected(steps=None, *, login=False, probes=True, until=14) -> list[list]:
    """The az calls of a fresh run of the named steps (all but login by default): the refresh, then BOOK.

    A step command first asks `az account show` (signed in, and to the state's subscription).
    """
    calls = [["account", "show"]] if steps is not None and set(steps) - {"login", "extension"} else []
    if probes and steps is not None:
        calls += [args for step in steps if step != "login" for args in FRESH_STEP[step]]
    for index, (step, args) in enumerate(BOOK[: until + 1]):
        if (steps is None and (login or step != "login")) or (steps and step in steps):
            calls.append(args)
            calls += [own for own, _ in OWN.get(index, ()) if index < until or until == 14]
    return calls


def normalised(calls: list[list[str]]) -> list[list]:
    """Calls with the @secret-file argument replaced by SECRET_FILE and the made-up tag by NEW_ID, for
    comparison with BOOK."""
    out = []
    for call in calls:
        out.append([SECRET_FILE if i and call[i - 1] == "--client-secret" and a.startswith("@") else
                    NEW_ID if a.startswith("azwrap-id=") else a for i, a in enumerate(call)])  # fmt: skip
    return out


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A clean current directory with the book's input.csv, and no AZWRAP_* from the outside."""
    for name in list(os.environ):
        if name.startswith("AZWRAP_"):
            monkeypatch.delenv(name)
    # The book's exact order, which these tests compare with; the parallel fan-out is tested in
    # test_parallel.py and end to end.
    monkeypatch.setenv("AZWRAP_JOBS", "1")
    work = tmp_path / "work"
    work.mkdir()
    (work / "input.csv").write_text("customer_id,total_spend\n1,120.5\n2,9800.0\n", encoding="utf-8")
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def az_path(tmp_path, monkeypatch, workdir):
    """An executable named az (never really run: fp intercepts it), given through AZWRAP_AZ."""
    path = tmp_path / "bin" / "az"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\necho 'the real process must never run in unit tests' >&2\nexit 99\n")
    path.chmod(0o755)
    monkeypatch.setenv("AZWRAP_AZ", str(path))
    return str(path)


@pytest.fixture
def fake(fp, az_path):
    return FakeAz(fp, az_path)


def succeeded(result):
    """result, once it is known to have exited 0 (for tests that go on to read its output)."""
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def cli():
    """Run azwrap in-process; returns click's Result (stdout and stderr kept apart)."""

    def invoke(*args, **kwargs):
        return CliRunner().invoke(main, list(args), prog_name="azwrap", catch_exceptions=False, **kwargs)

    return invoke


@pytest.fixture
def default_sigint():
    """Ctrl-C raises KeyboardInterrupt here even when the suite was started with SIGINT ignored
    (a background job of a non-interactive shell, `trap '' INT`): Python installs its handler only if
    SIGINT was not ignored. Every test that sends itself a signal uses this (or azwrap_signals)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def azwrap_signals(default_sigint):
    """azwrap's own handlers, as `azwrap` installs them: SIGINT, SIGTERM, SIGHUP and SIGQUIT end the run."""
    from azwrap.az import process

    previous = process.install_handlers()
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)
