"""The `az ml` invocations: they differ between the v1 extension (the book's) and the current `ml`
extension (v2, REFERENCE.md section 5); a Dialect holds the builders of one of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .commands import SP_APP_ID, SP_PASSWORD, SP_TENANT, Args, Concat, FileArg
from .settings import Settings


def datastore_list(s: Settings) -> Args:
    return ("ml", "datastore", "list", "--workspace-name", s.workspace, "--resource-group", s.aml_group)


def v2_workspace_delete(s: Settings, all_resources: bool = True) -> Args:
    """Purged; --all-resources first deletes what the workspace links to, whoever made it (REFERENCE.md 8)."""
    return ("ml", "workspace", "delete", "--name", s.workspace, "--resource-group", s.aml_group,
            "--permanently-delete", *(("--all-resources",) if all_resources else ()), "--yes")  # fmt: skip


def v1_datastore_detach(s: Settings) -> Args:
    return ("ml", "datastore", "detach", "--name", s.datastore, "--workspace-name", s.workspace, "--resource-group", s.aml_group)


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


# Said at the start of `azwrap all` and in `azwrap plan`'s output while v1, the book's default, is chosen.
V1_RETIRED = ("--ml-cli v1 (the book's azure-cli-ml extension) is retired: its support ended on 30 September "
              "2025; for a new setup, use --ml-cli v2 (the current ml extension)")
