"""The book's az invocations as data: pure functions from settings to argv (after "az").

Values known only at run time (fields of JSON that an earlier command printed) are Ref
objects; the runner fills them in, the script renderers print them as $sp.appId and friends.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from .settings import Settings


@dataclass(frozen=True)
class Ref:
    """Field `field` of the JSON captured as `var` (the book's `$sp.appId`)."""

    var: str
    field: str
    secret: bool = False

    def __str__(self) -> str:
        return f"${self.var}.{self.field}"


SP_APP_ID = Ref("sp", "appId")
SP_PASSWORD = Ref("sp", "password", secret=True)
SP_TENANT = Ref("sp", "tenant")
ACC_ID = Ref("acc", "id")
AML_ID = Ref("aml", "id")

SECRET_REFS = {SP_PASSWORD}

# The fields of each captured JSON that later invocations use: what the state keeps.
CAPTURED_FIELDS: dict[str, tuple[str, ...]] = {}
for _ref in (SP_APP_ID, SP_PASSWORD, SP_TENANT, ACC_ID, AML_ID):
    CAPTURED_FIELDS.setdefault(_ref.var, ())
    CAPTURED_FIELDS[_ref.var] += (_ref.field,)



@dataclass(frozen=True)
class Concat:
    """One argument made of literal text and run-time values: `credentials.client_secret=$sp.password`."""

    parts: tuple  # str | Ref

    def __str__(self) -> str:
        return "".join(map(str, self.parts))


@dataclass(frozen=True)
class FileArg:
    """A file az reads, written just before the call (0600, private directory) and passed by path.

    Scripts write it to `name` first. Its content may hold run-time values but never a secret.
    """

    name: str
    content: tuple  # str | Ref

    def __str__(self) -> str:
        return self.name


Args = tuple  # of str | Ref | Concat | FileArg: argv after "az"


def refs_in(arg) -> list[Ref]:
    """The run-time values an argument needs."""
    if isinstance(arg, Ref):
        return [arg]
    if isinstance(arg, (Concat, FileArg)):
        return [part for part in (arg.parts if isinstance(arg, Concat) else arg.content) if isinstance(part, Ref)]
    return []


@dataclass(frozen=True)
class Guard:
    """A read-only probe run before a command that is not idempotent: skip it when done already."""

    probe: Args
    exists: Callable[[object], bool]  # the probe's JSON (None: not found, exit 3) -> already there?
    what: str  # e.g. "filesystem fs1"
    shape: type = dict  # what the probe's JSON must be


@dataclass(frozen=True)
class Invocation:
    """One az call of the plan: the step command it belongs to, its argv, what it captures."""

    step: str
    args: Args
    capture: str | None = None
    guard: Guard | None = None
    # Role assignments right after creating a principal fail until the directory replicates.
    retry_replication: bool = False
    makes: str | None = None  # the resource it creates (resources.py), recorded as azwrap's
    before: bool = False  # runs only to make way for the next invocation (a stale datastore's detach)

    @property
    def refs(self) -> list[Ref]:
        return [ref for arg in self.args for ref in refs_in(arg)]

    def template(self) -> list[str]:
        """argv with run-time values as their literal names ("$sp.appId")."""
        return ["az", *map(str, self.args)]


# --- commands outside `az ml`: the same in every dialect -------------------------------


def login(s: Settings) -> Args:
    # REFERENCE.md section 7: `az login [--use-device-code] [--tenant T]`.
    return ("login",) + (("--use-device-code",) if s.use_device_code else ()) + (("--tenant", s.tenant) if s.tenant else ())


def account_show() -> Args:
    return ("account", "show")


def version() -> Args:
    return ("version",)


def access_token_expiry() -> Args:
    # `az account show` reads the cache and succeeds on an expired sign-in; getting a token does
    # not (REFERENCE.md section 7). --query keeps the token itself out of azwrap's pipe.
    return ("account", "get-access-token", "--query", "expiresOn")


def account_list_locations() -> Args:
    return ("account", "list-locations")


def role_assignments_held_by(assignee: str) -> Args:
    """The assignee's role assignments, also those inherited and those of its groups (doctor)."""
    return ("role", "assignment", "list", "--assignee", assignee, "--include-inherited", "--include-groups")


def extension_list_available() -> Args:
    return ("extension", "list-available")


def extension_add(name: str) -> Args:
    return ("extension", "add", "-n", name)


def extension_list() -> Args:
    return ("extension", "list")


def extension_remove_line(name: str) -> str:
    """The command that removes an extension, for the user to run (azwrap never does it itself)."""
    return line(("extension", "remove", "--name", name))


def line(args: Args) -> str:
    """A command for the user to read or copy (messages); never run through a shell."""
    return shlex.join(["az", *map(str, args)])


# --subscription is an ARM option: `az ad` (Microsoft Graph), login, version, extension and config
# do not accept it, and `az account` commands take their own (REFERENCE.md section 7).
_NO_SUBSCRIPTION = (("ad",), ("login",), ("logout",), ("version",), ("extension",), ("config",), ("account",))


def with_subscription(args: Args, subscription: str | None) -> Args:
    """args with `--subscription S` when a subscription is chosen and the command accepts it."""
    if not subscription or any(tuple(args[: len(words)]) == words for words in _NO_SUBSCRIPTION):
        return args
    return (*args, "--subscription", subscription)


def account_show_for(subscription: str | None) -> Args:
    return ("account", "show", "--subscription", subscription) if subscription else account_show()


def account_set(subscription_id: str) -> Args:
    return ("account", "set", "--subscription", subscription_id)


# --- read-only probes (README "Probes") and ARM ids ---------------------------------------

ML_WORKSPACES = "Microsoft.MachineLearningServices/workspaces"
ARM = "https://management.azure.com"
# A GA api-version of Microsoft.MachineLearningServices that takes forceToPurge on DELETE.
ML_API_VERSION = "2024-10-01"


def group_id(subscription_id: str, group: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{group}"


def workspace_id(subscription_id: str, s: Settings) -> str:
    return f"{group_id(subscription_id, s.aml_group)}/providers/{ML_WORKSPACES}/{s.workspace}"


def compute_id(subscription_id: str, s: Settings) -> str:
    return f"{workspace_id(subscription_id, s)}/computes/{s.compute}"


def group_exists(name: str) -> Args:
    return ("group", "exists", "--name", name)


def resource_show(resource_id: str) -> Args:
    # az's own not-found (exit 3), unlike the v1 extension's `show` commands (REFERENCE.md section 7).
    return ("resource", "show", "--ids", resource_id)


def storage_fs_file_exists(s: Settings) -> Args:
    return ("storage", "fs", "file", "exists", "--file-system", s.filesystem, "--path", s.upload_path,
            "--account-name", s.account)  # fmt: skip


def role_assignment_list(assignee: str, scope: str) -> Args:
    return ("role", "assignment", "list", "--assignee", assignee, "--scope", scope)


def datastore_list(s: Settings) -> Args:
    return ("ml", "datastore", "list", "--workspace-name", s.workspace, "--resource-group", s.aml_group)


# --- deletes (azwrap destroy; REFERENCE.md section 7) ------------------------------------


def group_delete(name: str) -> Args:
    return ("group", "delete", "--name", name, "--yes")


def storage_account_delete(s: Settings) -> Args:
    return ("storage", "account", "delete", "--name", s.account, "--resource-group", s.adls_group, "--yes")


def storage_fs_delete(s: Settings) -> Args:
    return ("storage", "fs", "delete", "--name", s.filesystem, "--account-name", s.account, "--yes")


def storage_fs_file_delete(s: Settings) -> Args:
    return ("storage", "fs", "file", "delete", "--file-system", s.filesystem, "--path", s.upload_path,
            "--account-name", s.account, "--yes")  # fmt: skip


def workspace_purge(workspace_arm_id: str) -> Args:
    """The ARM purge: also for a workspace already soft-deleted, which `az ml workspace delete` cannot find."""
    return ("rest", "--method", "delete",
            "--url", f"{ARM}{workspace_arm_id}?api-version={ML_API_VERSION}&forceToPurge=true")  # fmt: skip


def v2_workspace_delete(s: Settings) -> Args:
    return ("ml", "workspace", "delete", "--name", s.workspace, "--resource-group", s.aml_group,
            "--permanently-delete", "--all-resources", "--yes")  # fmt: skip


def storage_account_check_name(s: Settings) -> Args:
    return ("storage", "account", "check-name", "--name", s.account)


def storage_account_show_in_group(s: Settings) -> Args:
    # With --resource-group a missing account exits 3 (without it: 2, REFERENCE.md section 7). The group
    # comes first so that this probe is never mistaken for the book's `storage account show --name A`.
    return ("storage", "account", "show", "--resource-group", s.adls_group, "--name", s.account)


def group_create(location: str, name: str) -> Args:
    return ("group", "create", "--location", location, "--name", name)


def storage_account_create(s: Settings) -> Args:
    return (
        "storage", "account", "create",
        "--name", s.account,
        "--resource-group", s.adls_group,
        "--enable-hierarchical-namespace", "true",
    )  # fmt: skip


def storage_fs_create(s: Settings) -> Args:
    return ("storage", "fs", "create", "--account-name", s.account, "--name", s.filesystem)


def storage_fs_exists(s: Settings) -> Args:
    return ("storage", "fs", "exists", "--name", s.filesystem, "--account-name", s.account)


def source_argument(path: str) -> str:
    """A local path as az's --source: one starting with '-' would be read as a flag, so ./ goes first."""
    return "./" + path if path.startswith("-") else path


def storage_fs_file_upload(s: Settings, overwrite: bool = False) -> Args:
    return (
        "storage", "fs", "file", "upload",
        "--file-system", s.filesystem,
        "--path", s.upload_path,
        "--source", source_argument(s.source),
        "--account-name", s.account,
    ) + (("--overwrite",) if overwrite else ())  # fmt: skip


def sp_create_for_rbac() -> Args:
    return ("ad", "sp", "create-for-rbac")


def ad_sp_show(app_id: str) -> Args:
    return ("ad", "sp", "show", "--id", app_id)


# --- the principal's lifecycle (REFERENCE.md section 7): not in the book ----------------


def ad_app_delete(app_id: str) -> Args:
    """Deletes the app and its principal (and secret); not its role assignments."""
    return ("ad", "app", "delete", "--id", app_id)


def ad_app_credential_reset(app_id: str) -> Args:
    """Removes the app's passwords one by one (not atomically) and adds one new password (1 year)."""
    return ("ad", "app", "credential", "reset", "--id", app_id)


def ad_app_credential_list(app_id: str) -> Args:
    return ("ad", "app", "credential", "list", "--id", app_id)


def role_assignment_list_for(app_id: str) -> Args:
    return ("role", "assignment", "list", "--assignee", app_id, "--all")


def role_assignment_delete(ids: list[str]) -> Args:
    return ("role", "assignment", "delete", "--ids", *ids)


def v1_datastore_detach(s: Settings) -> Args:
    return ("ml", "datastore", "detach", "--name", s.datastore, "--workspace-name", s.workspace, "--resource-group", s.aml_group)


def storage_account_show(s: Settings) -> Args:
    return ("storage", "account", "show", "--name", s.account)


def role_assignment_create(role: str, scope: Ref) -> Args:
    return ("role", "assignment", "create", "--role", role, "--assignee", SP_APP_ID, "--scope", scope)


# --- `az ml` commands: these differ between the v1 extension and the current one ---------


def v1_workspace_create(s: Settings) -> Args:
    return (
        "ml", "workspace", "create",
        "--workspace-name", s.workspace,
        "--location", s.location,
        "--resource-group", s.aml_group,
    )  # fmt: skip


def v1_compute_create(s: Settings) -> Args:
    return (
        "ml", "computetarget", "create", "amlcompute",
        "--max-nodes", str(s.max_nodes),
        "--name", s.compute,
        "--vm-size", s.vm_size,
        "--workspace-name", s.workspace,
        "--resource-group", s.aml_group,
    )  # fmt: skip


def v1_datastore_attach(s: Settings) -> Args:
    return (
        "ml", "datastore", "attach-adls-gen2",
        "--account-name", s.account,
        "--client-id", SP_APP_ID,
        "--client-secret", SP_PASSWORD,
        "--tenant-id", SP_TENANT,
        "--file-system", s.filesystem,
        "--name", s.datastore,
        "--workspace-name", s.workspace,
        "--resource-group", s.aml_group,
    )  # fmt: skip


def v1_workspace_show(s: Settings) -> Args:
    return ("ml", "workspace", "show", "--workspace-name", s.workspace, "--resource-group", s.aml_group)


# --- v2: the current `ml` extension (REFERENCE.md section 5) ----------------------------

# The datastore YAML of REFERENCE.md section 5, without the secret: az adds it from a file
# through `--set credentials.client_secret=@<file>`.
DATASTORE_SCHEMA = "https://azuremlschemas.azureedge.net/latest/azureDataLakeGen2.schema.json"


def yaml_quoted(value: str) -> str:
    """value as a YAML single-quoted scalar, which YAML always reads as a string: a bare 123456, 2024,
    1e3 or 0x1f would be a number, yes/on a boolean, null or ~ nothing, and the schema rejects them."""
    return "'" + value.replace("'", "''") + "'"


def v2_datastore_yaml(s: Settings) -> tuple:
    # The run-time values are GUIDs (the state refuses anything else), so quotes around them suffice.
    return (
        f"$schema: {yaml_quoted(DATASTORE_SCHEMA)}\n"
        f"name: {yaml_quoted(s.datastore)}\n"
        "type: 'azure_data_lake_gen2'\n"
        f"account_name: {yaml_quoted(s.account)}\n"
        f"filesystem: {yaml_quoted(s.filesystem)}\n"
        "credentials:\n"
        "  tenant_id: '", SP_TENANT, "'\n"
        "  client_id: '", SP_APP_ID, "'\n",
    )  # fmt: skip


def v2_workspace_create(s: Settings) -> Args:
    return ("ml", "workspace", "create", "--name", s.workspace, "--location", s.location, "--resource-group", s.aml_group)


def v2_compute_create(s: Settings) -> Args:
    return (
        "ml", "compute", "create",
        "--name", s.compute,
        "--type", "AmlCompute",
        "--size", s.vm_size,
        "--max-instances", str(s.max_nodes),
        "--workspace-name", s.workspace,
        "--resource-group", s.aml_group,
    )  # fmt: skip


def v2_datastore_create(s: Settings) -> Args:
    return (
        "ml", "datastore", "create",
        "--file", FileArg("mldata.yml", v2_datastore_yaml(s)),
        "--set", Concat(("credentials.client_secret=", SP_PASSWORD)),
        "--workspace-name", s.workspace,
        "--resource-group", s.aml_group,
    )  # fmt: skip


def v2_datastore_show(s: Settings) -> Args:
    return ("ml", "datastore", "show", "--name", s.datastore, "--workspace-name", s.workspace, "--resource-group", s.aml_group)


def v2_workspace_show(s: Settings) -> Args:
    return ("ml", "workspace", "show", "--name", s.workspace, "--resource-group", s.aml_group)




@dataclass(frozen=True)
class Dialect:
    """The `az ml` extension and the builders of the invocations that depend on it."""

    name: str
    extension: str
    workspace_create: Callable[[Settings], Args]
    compute_create: Callable[[Settings], Args]
    datastore_attach: Callable[[Settings], Args]
    workspace_show: Callable[[Settings], Args]
    compute_delete: Callable[[Settings], Args]
    datastore_delete: Callable[[Settings], Args]


V1 = Dialect(
    name="v1",
    extension="azure-cli-ml",
    workspace_create=v1_workspace_create,
    compute_create=v1_compute_create,
    datastore_attach=v1_datastore_attach,
    workspace_show=v1_workspace_show,
    compute_delete=lambda s: ("ml", "computetarget", "delete", "--name", s.compute, "--workspace-name", s.workspace,
                              "--resource-group", s.aml_group),
    datastore_delete=v1_datastore_detach,
)

V2 = Dialect(
    name="v2",
    extension="ml",
    workspace_create=v2_workspace_create,
    compute_create=v2_compute_create,
    datastore_attach=v2_datastore_create,
    workspace_show=v2_workspace_show,
    compute_delete=lambda s: ("ml", "compute", "delete", "--name", s.compute, "--workspace-name", s.workspace,
                              "--resource-group", s.aml_group, "--yes"),
    datastore_delete=lambda s: ("ml", "datastore", "delete", "--name", s.datastore, "--workspace-name", s.workspace,
                                "--resource-group", s.aml_group),
)

DIALECTS = {dialect.name: dialect for dialect in (V1, V2)}


def other_dialect(dialect: Dialect) -> Dialect:
    """The extensions of v1 and v2 cannot be installed side by side (REFERENCE.md section 5)."""
    return V2 if dialect is V1 else V1
