"""The step commands: which book invocations each runs, and which settings it uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import commands as az
from . import resources
from .commands import Guard, Invocation
from .ml import DIALECTS, Dialect, other_dialect
from ..errors import Refused
from .settings import Settings

# Stands for the subscription id in probes built where none is known (plan, --help).
ANY_SUBSCRIPTION = "<subscription-id>"


@dataclass(frozen=True)
class Known:
    """What a run knows beyond the settings, for the probes: the subscription, and what the state records."""

    subscription_id: str = ANY_SUBSCRIPTION
    resources: dict = field(default_factory=dict)  # state["resources"]
    outputs: dict = field(default_factory=dict)  # state["outputs"]

    def ours(self, key: str) -> bool:
        return bool(self.resources.get(key, {}).get("created"))


def call(args, capture=None, guard=None, retry_replication=False, makes=None, before=False, identifies=None) -> dict:
    return {"args": args, "capture": capture, "guard": guard, "retry_replication": retry_replication,
            "makes": makes, "before": before, "identifies": identifies}  # fmt: skip


def own(args, follows: str, identifies: str, retry_replication: bool = False) -> dict:
    """azwrap's own call after a creation, not the book's: what tells the new thing from a same-named
    one made later (ARM's identity fields; a tag of azwrap's on a group)."""
    return {"args": args, "own": True, "follows": follows, "identifies": identifies,
            "retry_replication": retry_replication}  # fmt: skip


def _identity_read(known: Known, key: str, s: Settings) -> dict:
    return own(az.resources_show([resources.arm_id(key, s, known.subscription_id)]), key, key)


def _found(live) -> bool:
    return live is not None


@dataclass(frozen=True)
class Step:
    name: str
    summary: str  # one line, for `azwrap --help`
    example: str  # shown in the command's --help
    uses: tuple[str, ...]  # the settings its az invocations are built from
    build: Callable[..., list[dict]]  # (settings, dialect, force, known) -> [call(...)]
    needs: tuple[str, ...] = ()  # steps whose resources its commands act on

    def invocations(self, settings: Settings, force: bool = False, known: Known | None = None) -> list[Invocation]:
        specs = self.build(settings, DIALECTS[settings.ml_cli], force, known or Known())
        return [Invocation(self.name, **spec) for spec in specs]


def _group(key: str, name: str) -> Guard:
    # `az group create` on an existing group is a PUT that replaces its tags (Azure/azure-cli#11513):
    # a group that exists is used as it is.
    return Guard(key, f"resource group {name}", _found)


def _extension(s: Settings, d: Dialect, force: bool, known: Known) -> list[dict]:
    def installed(names) -> bool:
        other = other_dialect(d)
        if other.extension in names:
            # Never removed silently: other tools of the user's may rely on it.
            raise Refused(
                f"the {other.extension} extension ({other.name}) is installed; it cannot be installed beside "
                f"{d.extension} ({d.name}). Remove it first, then run azwrap again:\n  {az.extension_remove_line(other.extension)}"
            )
        return d.extension in names

    return [call(az.extension_add(d.extension), guard=Guard("extension", f"extension {d.extension}", installed))]


def _workspace(s: Settings, d: Dialect, force: bool, known: Known) -> list[dict]:
    workspace = Guard("workspace", f"workspace {s.workspace}", _found)
    return [
        call(az.group_create(s.location, s.aml_group), guard=_group("aml_group", s.aml_group), makes="aml_group"),
        own(az.tag_group(known.subscription_id, s.aml_group, "aml_group"), "aml_group", "aml_group"),
        call(d.workspace_create(s), guard=workspace, makes="workspace"),
        _identity_read(known, "workspace", s),
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


def _compute(s: Settings, d: Dialect, force: bool, known: Known) -> list[dict]:
    def matches(compute) -> bool:
        if compute is None:
            return False
        # az resource show prints ARM's shape; the other paths are what v1 and v2 `show` print.
        size = _dig(compute, "properties.properties.vmSize", "size", "vmSize")
        max_nodes = _dig(compute, "properties.properties.scaleSettings.maxNodeCount", "max_instances",
                         "scaleSettings.maxNodeCount")  # fmt: skip
        if (size is not None and str(size).lower() != s.vm_size.lower()) or (
            max_nodes is not None and int(max_nodes) != s.max_nodes
        ):
            raise Refused(
                f"compute {s.compute} exists with vm size {size} and at most {max_nodes} node(s), not "
                f"{s.vm_size} and {s.max_nodes}; azwrap does not change an existing cluster. Choose another "
                f"--compute, or delete it first: {az.line(d.compute_delete(s))}"
            )
        return True

    compute = Guard("compute", f"compute {s.compute}", matches)
    return [call(d.compute_create(s), guard=compute, makes="compute"), _identity_read(known, "compute", s)]


def _datastore(s: Settings, d: Dialect, force: bool, known: Known) -> list[dict]:
    """Attach the datastore; one azwrap made for an earlier principal is replaced, anyone else's refused."""
    app_id = known.outputs.get("sp", {}).get("appId")

    def current(datastore) -> bool:  # the attach can be skipped (datastore: its live JSON's properties)
        if datastore is None:
            return False
        datastore = datastore.get("properties") or datastore  # az resource show: ARM's shape
        where = (datastore.get("accountName") or datastore.get("account_name"), datastore.get("filesystem"))
        if app_id and resources.datastore_client(datastore) == app_id and where == (s.account, s.filesystem) and (
                known.resources.get("datastore", {}).get("dialect", d.name) == d.name):
            return True  # attached as wanted already (e.g. by a run killed before it recorded it)
        if not known.ours("datastore"):
            raise Refused(
                f"datastore {s.datastore} exists in workspace {s.workspace}, not made by azwrap; azwrap "
                f"does not replace it (it may be someone else's). Choose another --datastore, or remove it first: "
                f"{az.line(d.datastore_delete(s))}"
            )
        return False  # azwrap's, for an earlier principal or made in the other dialect: made anew

    def nothing_to_detach(datastore) -> bool:  # else azwrap's, for another principal: v1 cannot replace it
        return datastore is None or current(datastore)

    what = f"datastore {s.datastore}"
    calls = [call(d.datastore_attach(s), guard=Guard("datastore", what, current), makes="datastore")]
    if d.name == "v1":  # v2's create replaces a datastore of the same name
        calls.insert(0, call(d.datastore_delete(s), guard=Guard("datastore", what, nothing_to_detach), before=True))
    return calls


def _storage(s: Settings, d: Dialect, force: bool, known: Known) -> list[dict]:
    def usable(account) -> bool:
        if account is None:
            return False
        if (account.get("properties") or account).get("isHnsEnabled") is not True:
            raise Refused(f"storage account {s.account} exists in {s.adls_group} without hierarchical namespace; "
                          "ADLS Gen2 needs it. Choose another --account.")  # fmt: skip
        return True

    # An existing account is used as it is: `storage account create` would update its properties.
    account = Guard("account", f"storage account {s.account}", usable)
    fs_exists = Guard("filesystem", f"filesystem {s.filesystem}", _found)
    return [
        call(az.group_create(s.location, s.adls_group), guard=_group("adls_group", s.adls_group), makes="adls_group"),
        own(az.tag_group(known.subscription_id, s.adls_group, "adls_group"), "adls_group", "adls_group"),
        # Its JSON holds the account's creationTime: what a same-named account made later does not share.
        call(az.storage_account_create(s), guard=account, makes="account", identifies="account"),
        call(az.storage_fs_create(s), guard=fs_exists, makes="filesystem"),  # fails with ContainerAlreadyExists
    ]


def _sp(s: Settings, d: Dialect, force: bool, known: Known) -> list[dict]:
    return [
        call(az.sp_create_for_rbac(), "sp", makes="sp"),
        # The key id of its password, so that `rotate` removes that one and no other (the app is new to
        # Graph: retried while it replicates).
        own(az.ad_app_credential_list(az.SP_APP_ID), "sp", "sp", retry_replication=True),
        call(az.storage_account_show(s), "acc"),
        call(az.role_assignment_create("Storage Blob Data Contributor", az.ACC_ID), retry_replication=True,
             makes="storage_role"),
    ]


def _grant(s: Settings, d: Dialect, force: bool, known: Known) -> list[dict]:
    return [
        call(d.workspace_show(s), "aml"),
        call(az.role_assignment_create("Contributor", az.AML_ID), retry_replication=True, makes="workspace_role"),
    ]


STEPS: tuple[Step, ...] = (
    Step("login", "Sign in to Azure (az login).", "azwrap login --use-device-code --tenant contoso.onmicrosoft.com",
         ("tenant", "use_device_code"), lambda s, d, force, known: [call(az.login(s))]),
    Step("extension", "Add the Azure ML extension to az.", "azwrap extension --ml-cli v2", ("ml_cli",), _extension),
    Step("workspace", "Create the ML resource group and the Azure ML workspace.",
         "azwrap workspace --location 'West Europe' --aml-group ml-rg",
         ("location", "aml_group", "workspace", "ml_cli"), _workspace, needs=("extension",)),
    Step("compute", "Create the compute cluster in the workspace.",
         "azwrap compute --max-nodes 2 --vm-size STANDARD_D2_V2",
         ("max_nodes", "compute", "vm_size", "workspace", "aml_group", "ml_cli"), _compute,
         needs=("extension", "workspace")),
    Step("storage", "Create the ADLS resource group, HNS storage account and filesystem.",
         "azwrap storage --account mydatalake",
         ("location", "adls_group", "account", "filesystem"), _storage),
    Step("upload", "Upload the input file to the filesystem.",
         "azwrap upload --account mydatalake --source data/input.csv",
         ("filesystem", "upload_path", "source", "account"),
         # Upload refuses to replace a file; --force upload re-uploads a changed source.
         lambda s, d, force, known: [call(az.storage_fs_file_upload(s, overwrite=force), makes="upload",
                                          guard=None if force else Guard("upload", f"file {s.upload_path}", _found))],
         needs=("storage",)),
    Step("sp", "Create a service principal with Storage Blob Data Contributor on the account.",
         "azwrap sp --account mydatalake", ("account",), _sp, needs=("storage",)),
    Step("datastore", "Attach the filesystem as a datastore, authenticated as the principal.",
         "azwrap datastore --account mydatalake --datastore MLData",
         ("account", "filesystem", "datastore", "workspace", "aml_group", "ml_cli"), _datastore,
         needs=("extension", "workspace", "storage", "sp")),
    Step("grant", "Give the principal Contributor on the workspace.",
         "azwrap grant --workspace aml --aml-group aml-rg", ("workspace", "aml_group", "ml_cli"), _grant,
         needs=("extension", "workspace", "sp")),
)  # fmt: skip

BY_NAME = {step.name: step for step in STEPS}

# Which step command captures each run-time value ($sp, $acc, $aml), to name it when one is missing.
PRODUCERS = {inv.capture: step.name for step in STEPS for inv in step.invocations(Settings(account="x")) if inv.capture}


def needs(step: Step) -> tuple[str, ...]:
    """The steps that must be done before step starts, in the book's order: the producers of the
    run-time values it reads, `extension` for any `az ml` command, and the makers of what it acts on
    (Step.needs)."""
    invocations = step.invocations(Settings(account="x"))
    produced_here = {inv.capture for inv in invocations if inv.capture}
    wanted = {PRODUCERS[ref.var] for inv in invocations for ref in inv.refs if ref.var not in produced_here}
    if any(inv.args[:1] == ("ml",) for inv in invocations):
        wanted.add("extension")
    wanted.update(step.needs)
    return tuple(other.name for other in STEPS if other.name in wanted)


NEEDS = {step.name: needs(step) for step in STEPS}


def plan(settings: Settings) -> list[Invocation]:
    """The book's invocations in order, in the dialect settings.ml_cli names (no probes, no detach, none
    of azwrap's own calls)."""
    return [inv for step in STEPS for inv in step.invocations(settings) if not (inv.before or inv.own)]
