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


@dataclass(frozen=True)
class NewId:
    """A value made up when the call runs, unique to it: the tag that tells a group azwrap created from
    one of the same name made later (a copy of an old state must not match it)."""

    key: str  # the resource it identifies

    def __str__(self) -> str:
        return "$new.id"


Args = tuple  # of str | Ref | Concat | FileArg | NewId: argv after "az"


def refs_in(arg) -> list[Ref]:
    """The run-time values an argument needs."""
    if isinstance(arg, Ref):
        return [arg]
    if isinstance(arg, (Concat, FileArg)):
        return [part for part in (arg.parts if isinstance(arg, Concat) else arg.content) if isinstance(part, Ref)]
    return []


@dataclass(frozen=True)
class Guard:
    """What decides, from the live state refresh found, whether a command that is not idempotent is
    done already (the plan reads it; no az call of its own)."""

    key: str  # the resource (resources.py) whose live JSON decides, or "extension" (the installed names)
    what: str  # e.g. "filesystem fs1"
    skip: Callable[[object], bool]  # that JSON (None: not there) -> already done? (raises Refused: cannot go on)


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
    # azwrap's own call, not the book's (not in generated scripts): it runs only after the creation of
    # `follows` ran, and its answer gives the identity of `identifies`.
    own: bool = False
    follows: str | None = None
    identifies: str | None = None

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
    # not (REFERENCE.md section 7). --query keeps the token itself out of azwrap's pipe. Both expiry
    # fields (REFERENCE.md section 8): expires_on (POSIX seconds), and the deprecated expiresOn (local
    # time) that older CLIs print alone and later ones will drop; a field az does not print is null.
    return ("account", "get-access-token", "--query", "[expires_on, expiresOn]")


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
    if not subscription or "--subscription" in args or any(tuple(args[: len(words)]) == words for words in _NO_SUBSCRIPTION):
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


def storage_account_id(subscription_id: str, s: Settings) -> str:
    return f"{group_id(subscription_id, s.adls_group)}/providers/Microsoft.Storage/storageAccounts/{s.account}"


IDENTITY_TAG = "azwrap-id"  # the tag azwrap puts on a resource group it creates


def tag_group(subscription_id: str, group: str, key: str) -> Args:
    """A tag merged into the group's, in a call of its own (the book's `group create` keeps its argv)."""
    return ("tag", "update", "--resource-id", group_id(subscription_id, group), "--operation", "Merge",
            "--tags", Concat((f"{IDENTITY_TAG}=", NewId(key))))  # fmt: skip


def resource_delete(resource_ids: list[str]) -> Args:
    return ("resource", "delete", "--ids", *resource_ids)


def resource_list(group: str) -> Args:
    """Everything in a group (a missing group exits 3, not [])."""
    return ("resource", "list", "--resource-group", group)


def group_list() -> Args:
    """Every resource group of the subscription, with its location and tags: one call for both groups."""
    return ("group", "list")


def resources_show(resource_ids: list[str]) -> Args:
    """Several resources in one call: a list in the order given (one id: an object); any missing one
    fails the whole call with exit 3 and prints nothing (azure-cli's resource `show_resource`)."""
    return ("resource", "show", "--ids", *resource_ids)




def storage_fs_file_exists(s: Settings) -> Args:
    return ("storage", "fs", "file", "exists", "--file-system", s.filesystem, "--path", s.upload_path,
            "--account-name", s.account)  # fmt: skip




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


def storage_fs_list(account: str) -> Args:
    """The account's filesystems (the book's storage commands' auth: no --auth-mode, the account key)."""
    return ("storage", "fs", "list", "--account-name", account)


def storage_fs_file_list(account: str, filesystem: str) -> Args:
    """Every file and directory in a filesystem (recursive by default)."""
    return ("storage", "fs", "file", "list", "--file-system", filesystem, "--account-name", account)


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


def ad_app_credential_reset(app_id: str, display_name: str) -> Args:
    """Adds one new password (1 year), named; --append keeps the app's others (without it az removes every
    password on the app first, one by one: someone else's too)."""
    return ("ad", "app", "credential", "reset", "--id", app_id, "--append", "--display-name", display_name)


def ad_app_credential_delete(app_id: str, key_id: str) -> Args:
    """Removes one password, by its key id (`credential list` gives it)."""
    return ("ad", "app", "credential", "delete", "--id", app_id, "--key-id", key_id)


def ad_app_credential_list(app_id: str) -> Args:
    return ("ad", "app", "credential", "list", "--id", app_id)


def role_assignment_list_for(app_id: str) -> Args:
    # Without --all (or --scope), az lists only the assignments made at the subscription's level.
    return ("role", "assignment", "list", "--assignee", app_id, "--all")


def role_assignment_delete(ids: list[str]) -> Args:
    return ("role", "assignment", "delete", "--ids", *ids)



def storage_account_show(s: Settings) -> Args:
    return ("storage", "account", "show", "--name", s.account)


def role_assignment_create(role: str, scope: Ref) -> Args:
    return ("role", "assignment", "create", "--role", role, "--assignee", SP_APP_ID, "--scope", scope)
