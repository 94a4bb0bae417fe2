"""The step commands: which book invocations each runs, and which settings it uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import commands as az
from .commands import Dialect, Invocation
from .settings import Settings


@dataclass(frozen=True)
class Step:
    name: str
    summary: str  # one line, for `azwrap --help`
    example: str  # shown in the command's --help
    uses: tuple[str, ...]  # the settings its az invocations are built from
    build: Callable[[Settings, Dialect], list[tuple]]  # -> [(args, capture)]

    def invocations(self, settings: Settings, dialect: Dialect) -> list[Invocation]:
        return [Invocation(self.name, args, capture) for args, capture in self.build(settings, dialect)]


STEPS: tuple[Step, ...] = (
    Step(
        "login", "Sign in to Azure (az login).", "azwrap login", (),
        lambda s, d: [(az.login(), None)],
    ),
    Step(
        "extension", "Add the Azure ML extension to az.", "azwrap extension", (),
        lambda s, d: [(az.extension_add(d.extension), None)],
    ),
    Step(
        "workspace", "Create the ML resource group and the Azure ML workspace.",
        "azwrap workspace --location 'West Europe' --aml-group ml-rg",
        ("location", "aml_group", "workspace"),
        lambda s, d: [(az.group_create(s.location, s.aml_group), None), (d.workspace_create(s), None)],
    ),
    Step(
        "compute", "Create the compute cluster in the workspace.",
        "azwrap compute --max-nodes 2 --vm-size STANDARD_D2_V2",
        ("max_nodes", "compute", "vm_size", "workspace", "aml_group"),
        lambda s, d: [(d.compute_create(s), None)],
    ),
    Step(
        "storage", "Create the ADLS resource group, HNS storage account and filesystem.",
        "azwrap storage --account mydatalake",
        ("location", "adls_group", "account", "filesystem"),
        lambda s, d: [
            (az.group_create(s.location, s.adls_group), None),
            (az.storage_account_create(s), None),
            (az.storage_fs_create(s), None),
        ],
    ),
    Step(
        "upload", "Upload the input file to the filesystem.",
        "azwrap upload --account mydatalake --source data/input.csv",
        ("filesystem", "upload_path", "source", "account"),
        lambda s, d: [(az.storage_fs_file_upload(s), None)],
    ),
    Step(
        "sp", "Create a service principal with Storage Blob Data Contributor on the account.",
        "azwrap sp --account mydatalake",
        ("account",),
        lambda s, d: [
            (az.sp_create_for_rbac(), "sp"),
            (az.storage_account_show(s), "acc"),
            (az.role_assignment_create("Storage Blob Data Contributor", az.ACC_ID), None),
        ],
    ),
    Step(
        "datastore", "Attach the filesystem as a datastore, authenticated as the principal.",
        "azwrap datastore --account mydatalake --datastore MLData",
        ("account", "filesystem", "datastore", "workspace", "aml_group"),
        lambda s, d: [(d.datastore_attach(s), None)],
    ),
    Step(
        "grant", "Give the principal Contributor on the workspace.",
        "azwrap grant --workspace aml --aml-group aml-rg",
        ("workspace", "aml_group"),
        lambda s, d: [
            (d.workspace_show(s), "aml"),
            (az.role_assignment_create("Contributor", az.AML_ID), None),
        ],
    ),
)  # fmt: skip

BY_NAME = {step.name: step for step in STEPS}


def plan(settings: Settings, dialect: Dialect) -> list[Invocation]:
    """The book's invocations in order (probes are not part of it)."""
    return [invocation for step in STEPS for invocation in step.invocations(settings, dialect)]
