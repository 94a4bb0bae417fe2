"""The step commands: which book invocations each runs, and which settings it uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import commands as az
from .commands import DIALECTS, Dialect, Guard, Invocation, other_dialect
from .errors import Refused
from .settings import Settings


def call(args, capture=None, guard=None, retry_replication=False) -> dict:
    return {"args": args, "capture": capture, "guard": guard, "retry_replication": retry_replication}


def _found(json_output) -> bool:
    return json_output is not None


@dataclass(frozen=True)
class Step:
    name: str
    summary: str  # one line, for `azwrap --help`
    example: str  # shown in the command's --help
    uses: tuple[str, ...]  # the settings its az invocations are built from
    build: Callable[..., list[dict]]  # (settings, dialect, force) -> [call(...)]

    def invocations(self, settings: Settings, force: bool = False) -> list[Invocation]:
        return [Invocation(self.name, **spec) for spec in self.build(settings, DIALECTS[settings.ml_cli], force)]


def _extension(s: Settings, d: Dialect, force: bool) -> list[dict]:
    def installed(extensions) -> bool:
        names = {extension.get("name") for extension in extensions if isinstance(extension, dict)}
        other = other_dialect(d)
        if other.extension in names:
            # Never removed silently: other tools of the user's may rely on it.
            raise Refused(
                f"the {other.extension} extension ({other.name}) is installed; it cannot be installed beside "
                f"{d.extension} ({d.name}). Remove it first, then run azwrap again:\n  {az.extension_remove_line(other.extension)}"
            )
        return d.extension in names

    return [call(az.extension_add(d.extension), guard=Guard(az.extension_list(), installed, f"extension {d.extension}", list))]


def _workspace(s: Settings, d: Dialect, force: bool) -> list[dict]:
    return [
        call(az.group_create(s.location, s.aml_group)),
        call(d.workspace_create(s), guard=Guard(d.workspace_show(s), _found, f"workspace {s.workspace}")),
    ]


def _dig(data, *paths):
    """The first value found at one of the dotted paths (v1 and v2 print computes differently)."""
    for path in paths:
        value = data
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def _compute(s: Settings, d: Dialect, force: bool) -> list[dict]:
    def matches(compute) -> bool:
        if compute is None:
            return False
        size = _dig(compute, "size", "vmSize", "properties.properties.vmSize")
        max_nodes = _dig(compute, "max_instances", "scaleSettings.maxNodeCount",
                         "properties.properties.scaleSettings.maxNodeCount")  # fmt: skip
        if (size is not None and str(size).lower() != s.vm_size.lower()) or (
            max_nodes is not None and int(max_nodes) != s.max_nodes
        ):
            raise Refused(
                f"compute {s.compute} exists with vm size {size} and at most {max_nodes} node(s), not "
                f"{s.vm_size} and {s.max_nodes}; azwrap does not change an existing cluster. Choose another "
                f"--compute, or delete it first: {d.compute_delete} --name {s.compute} "
                f"--workspace-name {s.workspace} --resource-group {s.aml_group}"
            )
        return True

    return [call(d.compute_create(s), guard=Guard(d.compute_show(s), matches, f"compute {s.compute}"))]


def _datastore(s: Settings, d: Dialect, force: bool) -> list[dict]:
    def absent(datastore, state: dict):
        """False: create it; True: it is there with the recorded principal; the detach argv: detach it,
        then create it (v1, one azwrap made); Refused: someone else's."""
        if datastore is None:
            return False
        client_id = _dig(datastore, "clientId", "credentials.client_id")
        recorded = state["outputs"].get("sp", {}).get("appId")
        where = (_dig(datastore, "accountName", "account_name"), _dig(datastore, "filesystem"))
        record = state["steps"].get("datastore")
        made_here = record is not None and all(
            record.get("settings", {}).get(name) == getattr(s, name) for name in ("datastore", "workspace", "aml_group"))
        other_dialect = made_here and record.get("settings", {}).get("ml_cli", "v1") != d.name
        if recorded and client_id == recorded and where == (s.account, s.filesystem) and not other_dialect:
            return True  # attached as wanted already (e.g. by a run killed before it recorded it)
        if made_here:
            # azwrap made it with an earlier principal: v2's create replaces it; v1's attach cannot, so detach first.
            return False if d.name == "v2" else az.v1_datastore_detach(s)
        whose = "not made by azwrap"
        raise Refused(
            f"datastore {s.datastore} exists in workspace {s.workspace} with the credentials of {client_id} "
            f"({whose}); azwrap does not replace it. Detach it first, then run again: "
            f"{d.datastore_detach} --name {s.datastore} --workspace-name {s.workspace} --resource-group {s.aml_group}"
        )

    return [call(d.datastore_attach(s), guard=Guard(d.datastore_show(s), absent, f"datastore {s.datastore}",
                                                    with_state=True))]


def _storage(s: Settings, d: Dialect, force: bool) -> list[dict]:
    fs_exists = Guard(az.storage_fs_exists(s), lambda out: bool(out and out.get("exists")), f"filesystem {s.filesystem}")
    return [
        call(az.group_create(s.location, s.adls_group)),
        call(az.storage_account_create(s)),  # a PUT: re-running it is harmless
        call(az.storage_fs_create(s), guard=fs_exists),  # fails with ContainerAlreadyExists
    ]


def _sp(s: Settings, d: Dialect, force: bool) -> list[dict]:
    return [
        call(az.sp_create_for_rbac(), "sp"),
        call(az.storage_account_show(s), "acc"),
        call(az.role_assignment_create("Storage Blob Data Contributor", az.ACC_ID), retry_replication=True),
    ]


def _grant(s: Settings, d: Dialect, force: bool) -> list[dict]:
    return [
        call(d.workspace_show(s), "aml"),
        call(az.role_assignment_create("Contributor", az.AML_ID), retry_replication=True),
    ]


STEPS: tuple[Step, ...] = (
    Step("login", "Sign in to Azure (az login).", "azwrap login --use-device-code --tenant contoso.onmicrosoft.com",
         ("tenant", "use_device_code"), lambda s, d, force: [call(az.login(s))]),
    Step("extension", "Add the Azure ML extension to az.", "azwrap extension --ml-cli v2", ("ml_cli",), _extension),
    Step("workspace", "Create the ML resource group and the Azure ML workspace.",
         "azwrap workspace --location 'West Europe' --aml-group ml-rg",
         ("location", "aml_group", "workspace", "ml_cli"), _workspace),
    Step("compute", "Create the compute cluster in the workspace.",
         "azwrap compute --max-nodes 2 --vm-size STANDARD_D2_V2",
         ("max_nodes", "compute", "vm_size", "workspace", "aml_group", "ml_cli"), _compute),
    Step("storage", "Create the ADLS resource group, HNS storage account and filesystem.",
         "azwrap storage --account mydatalake",
         ("location", "adls_group", "account", "filesystem"), _storage),
    Step("upload", "Upload the input file to the filesystem.",
         "azwrap upload --account mydatalake --source data/input.csv",
         ("filesystem", "upload_path", "source", "account"),
         # Upload refuses to replace a file; --force upload re-uploads a changed source.
         lambda s, d, force: [call(az.storage_fs_file_upload(s, overwrite=force))]),
    Step("sp", "Create a service principal with Storage Blob Data Contributor on the account.",
         "azwrap sp --account mydatalake", ("account",), _sp),
    Step("datastore", "Attach the filesystem as a datastore, authenticated as the principal.",
         "azwrap datastore --account mydatalake --datastore MLData",
         ("account", "filesystem", "datastore", "workspace", "aml_group", "ml_cli"), _datastore),
    Step("grant", "Give the principal Contributor on the workspace.",
         "azwrap grant --workspace aml --aml-group aml-rg", ("workspace", "aml_group", "ml_cli"), _grant),
)  # fmt: skip

BY_NAME = {step.name: step for step in STEPS}

# Which step command captures each run-time value ($sp, $acc, $aml), to name it when one is missing.
PRODUCERS = {inv.capture: step.name for step in STEPS for inv in step.invocations(Settings(account="x")) if inv.capture}


def plan(settings: Settings) -> list[Invocation]:
    """The book's invocations in order, in the dialect settings.ml_cli names (no probes)."""
    return [invocation for step in STEPS for invocation in step.invocations(settings)]
