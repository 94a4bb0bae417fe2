"""What the setup consists of in Azure: each resource, the step that makes it, how to see it is there.

Pure data and functions: a resource's probe is a read-only az call built from the settings it was
recorded with (so a changed setting never makes azwrap look at, or delete, the wrong thing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import commands as az
from .settings import Settings


@dataclass(frozen=True)
class Resource:
    key: str
    step: str  # the step command that makes it
    uses: tuple[str, ...]  # the settings that name it
    label: Callable[[Settings], str]
    inside: str | None = None  # the resource it lives in: gone with it, deleted with it


RESOURCES: tuple[Resource, ...] = (
    Resource("aml_group", "workspace", ("aml_group",), lambda s: f"resource group {s.aml_group}"),
    Resource("workspace", "workspace", ("workspace", "aml_group"),
             lambda s: f"workspace {s.workspace} in {s.aml_group}", inside="aml_group"),
    Resource("compute", "compute", ("compute", "workspace", "aml_group"),
             lambda s: f"compute {s.compute} in workspace {s.workspace}", inside="workspace"),
    Resource("adls_group", "storage", ("adls_group",), lambda s: f"resource group {s.adls_group}"),
    Resource("account", "storage", ("account", "adls_group"),
             lambda s: f"storage account {s.account} in {s.adls_group}", inside="adls_group"),
    Resource("filesystem", "storage", ("filesystem", "account"),
             lambda s: f"filesystem {s.filesystem} in {s.account}", inside="account"),
    Resource("upload", "upload", ("upload_path", "filesystem", "account"),
             lambda s: f"file {s.upload_path} in {s.filesystem}", inside="filesystem"),
    Resource("sp", "sp", (), lambda s: "the service principal (app registration) and its secret"),
    Resource("storage_role", "sp", ("account",),
             lambda s: f"role Storage Blob Data Contributor on {s.account}", inside="account"),
    Resource("datastore", "datastore", ("datastore", "workspace", "aml_group"),
             lambda s: f"datastore {s.datastore} in workspace {s.workspace}", inside="workspace"),
    Resource("workspace_role", "grant", ("workspace", "aml_group"),
             lambda s: f"role Contributor on workspace {s.workspace}", inside="workspace"),
)  # fmt: skip

BY_KEY = {resource.key: resource for resource in RESOURCES}
ROLE_KEYS = ("storage_role", "workspace_role")  # recorded by the `id` in az's JSON
GROUP_KEYS = ("aml_group", "adls_group")


def of_step(step: str) -> list[Resource]:
    return [resource for resource in RESOURCES if resource.step == step]


def container(key: str) -> str | None:
    """The resource group a resource lives in (None for the principal, which is in the directory)."""
    while key is not None and key not in GROUP_KEYS:
        key = BY_KEY[key].inside
    return key


ROLE_NAMES = {"storage_role": "Storage Blob Data Contributor", "workspace_role": "Contributor"}
ROLE_SCOPES = {"storage_role": "acc", "workspace_role": "aml"}  # the captured JSON whose id is the scope
ARM_KEYS = ("workspace", "compute", "datastore", "account")  # seen with `az resource show --ids`


def arm_id(key: str, s: Settings, subscription_id: str) -> str:
    """The ARM id of resource key as named by settings s (az resource show takes it)."""
    if key == "workspace":
        return az.workspace_id(subscription_id, s)
    if key == "compute":
        return az.compute_id(subscription_id, s)
    if key == "datastore":
        return f"{az.workspace_id(subscription_id, s)}/datastores/{s.datastore}"
    if key == "account":
        return az.storage_account_id(subscription_id, s)
    raise KeyError(key)


def datastore_entry(datastores, name: str) -> dict | None:
    """The datastore called name in `az ml datastore list` output (v1 and v2 shapes)."""
    return next((d for d in datastores or [] if isinstance(d, dict) and d.get("name") == name), None)


def datastore_client(datastore: dict) -> str | None:
    """The client id a datastore authenticates with (v1: clientId, v2: credentials.client_id, ARM:
    properties.credentials.clientId)."""
    credentials = datastore.get("credentials") or {}
    return datastore.get("clientId") or credentials.get("client_id") or credentials.get("clientId")


# --- identity: what a same-named re-creation would not share -------------------------------------

def identity_of(key: str, data, new_id: str | None = None) -> dict | None:
    """The identity fact of resource key in the JSON az printed for it (None: not in it): a group's
    azwrap-id tag (new_id, the value azwrap just set), a workspace's workspaceId, a compute's createdOn,
    an account's creationTime, the key id of the principal's password made with it."""
    if key in GROUP_KEYS:
        return {"tag": new_id} if new_id else None
    if key == "sp":
        credentials = [c for c in data or [] if isinstance(c, dict) and c.get("keyId")]
        made = [c for c in credentials if c.get("displayName") == "rbac"] or credentials
        return {"keyId": made[0]["keyId"]} if len(made) == 1 else None
    if not isinstance(data, dict):
        return None
    properties = data.get("properties") if isinstance(data.get("properties"), dict) else {}
    field = {"workspace": ("workspaceId", "workspaceid"), "compute": ("createdOn", "created_on"),
             "account": ("creationTime",)}.get(key, ())  # fmt: skip
    for name in field:
        value = properties.get(name) or data.get(name)
        if isinstance(value, str) and value:
            return {name.lower(): value}  # workspaceId and v1's workspaceid alike
    return None


def same_identity(key: str, recorded: dict | None, live) -> bool | None:
    """Whether the live resource is the one azwrap recorded (None: nothing recorded to tell by)."""
    if not recorded or key in ("sp", *ROLE_KEYS):
        return None  # an appId and a role assignment's id are never reused: found by them, they are the same
    if key in GROUP_KEYS:
        # Only another azwrap-id proves a group made again: `az group create` on an existing group, the portal and
        # tag policies replace its tags (Azure/azure-cli#11513), so a missing tag tells nothing.
        tag = ((live or {}).get("tags") or {}).get(az.IDENTITY_TAG)
        return None if not tag else tag == recorded.get("tag")
    if key == "datastore":
        properties = (live or {}).get("properties") or live or {}
        return datastore_client(properties) == recorded.get("clientId")
    now = identity_of(key, live)
    if not now:
        return False
    [(name, value)] = list(recorded.items())
    seen = next(iter(now.values()))
    if name in ("createdon", "creationtime"):
        return moment(seen) == moment(value)
    return str(seen).lower() == str(value).lower()


def moment(text: str):
    """An ISO time as az prints it (7 fraction digits and Z from ARM, 6 and +00:00 from az's own models)."""
    import datetime
    import re

    cleaned = re.sub(r"(\.\d{1,6})\d*", r"\1", str(text).replace("Z", "+00:00"))
    try:
        when = datetime.datetime.fromisoformat(cleaned)
    except ValueError:
        return str(text)
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


def dependents_of(workspace) -> list[str]:
    """The ARM ids of what a workspace made with it, from its JSON (ARM's camelCase, v2's snake_case)."""
    if not isinstance(workspace, dict):
        return []
    properties = workspace.get("properties") if isinstance(workspace.get("properties"), dict) else workspace
    names = ("storageAccount", "keyVault", "applicationInsights", "containerRegistry",
             "storage_account", "key_vault", "application_insights", "container_registry")  # fmt: skip
    return [properties[name] for name in names if isinstance(properties.get(name), str) and properties[name]]


def created_at(key: str, data):
    """When Azure made resource key, from its JSON (None: the JSON does not say): an account's
    creationTime, a compute's createdOn, a workspace's systemData.createdAt."""
    if not isinstance(data, dict):
        return None
    properties = data.get("properties") if isinstance(data.get("properties"), dict) else {}
    system = data.get("systemData") if isinstance(data.get("systemData"), dict) else {}
    for value in (properties.get("creationTime"), data.get("creationTime"), properties.get("createdOn"),
                  data.get("created_on"), data.get("createdOn"), system.get("createdAt")):
        if isinstance(value, str) and value:
            return instant(value)
    return None


def instant(text):
    """An ISO time az or azwrap wrote, as a datetime (None: not one)."""
    if not isinstance(text, str) or not text:
        return None
    value = moment(text)
    return None if isinstance(value, str) else value
