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
