"""What the setup consists of in Azure: each resource, the step that makes it, how to see it is there.

Pure data and functions: a resource's probe is a read-only az call built from the settings it was
recorded with (so a changed setting never makes azwrap look at, or delete, the wrong thing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import commands as az
from . import ml
from .commands import Args
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


@dataclass(frozen=True)
class Probe:
    """A read-only az call and how to read its answer (None: az said not found, exit 3)."""

    args: Args
    present: Callable[[object], bool]
    shape: type = dict


def _found(answer) -> bool:
    return answer is not None


def _exists_field(answer) -> bool:
    return bool(answer and answer.get("exists"))


def _listed(assignment_id: str | None, role: str):
    def present(assignments) -> bool:
        return any(isinstance(a, dict) and (a.get("id") == assignment_id if assignment_id else a.get("roleDefinitionName") == role)
                   for a in assignments or [])  # fmt: skip
    return present


def datastore_entry(datastores, name: str) -> dict | None:
    """The datastore called name in `az ml datastore list` output (v1 and v2 shapes)."""
    return next((d for d in datastores or [] if isinstance(d, dict) and d.get("name") == name), None)


def datastore_client(datastore: dict) -> str | None:
    """The client id a datastore authenticates with (v1: clientId, v2: credentials.client_id)."""
    return datastore.get("clientId") or (datastore.get("credentials") or {}).get("client_id")


def probe(key: str, s: Settings, subscription_id: str, outputs: dict, record: dict | None) -> Probe | None:
    """How to see that resource `key` (named by settings s) is still there; None when it cannot be told."""
    record = record or {}
    sp = outputs.get("sp", {})
    if key in GROUP_KEYS:
        return Probe(az.group_exists(getattr(s, key)), lambda answer: answer is True, bool)
    if key == "workspace":
        return Probe(az.resource_show(az.workspace_id(subscription_id, s)), _found)
    if key == "compute":
        return Probe(az.resource_show(az.compute_id(subscription_id, s)), _found)
    if key == "account":
        return Probe(az.storage_account_show_in_group(s), _found)
    if key == "filesystem":
        return Probe(az.storage_fs_exists(s), _exists_field)
    if key == "upload":
        return Probe(az.storage_fs_file_exists(s), _exists_field)
    if key == "sp":
        return Probe(az.ad_sp_show(sp["appId"]), _found) if sp.get("appId") else None
    if key == "datastore":
        return Probe(ml.datastore_list(s), lambda answer: datastore_entry(answer, s.datastore) is not None, list)
    if key in ROLE_KEYS:
        scope = outputs.get("acc" if key == "storage_role" else "aml", {}).get("id")
        role = "Storage Blob Data Contributor" if key == "storage_role" else "Contributor"
        if not (sp.get("appId") and scope):
            return None
        return Probe(az.role_assignment_list(sp["appId"], scope), _listed(record.get("id"), role), list)
    raise KeyError(key)
