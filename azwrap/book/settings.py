"""The book's settings: defaults, validation rules and which step uses which."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

# Shown instead of an account name when a plan is printed without --account.
ACCOUNT_PLACEHOLDER = "<your-adls-account>"


def _matches(pattern: str):
    return lambda value: re.fullmatch(pattern, value) is not None


def _relative_path(value: str) -> bool:
    parts = value.split("/")
    return (
        0 < len(value) <= 1024
        and all(part not in ("", ".", "..") for part in parts)
        and not re.search(r"[\x00-\x1f\x7f\\]", value)
    )


_GROUP = (
    _matches(r"[A-Za-z0-9_\-.()]{0,89}[A-Za-z0-9_\-()]"),
    "1-90 characters: letters, digits, '_', '-', '.', '(', ')', not ending in '.'",
)

# setting -> (predicate, the rule in words); REFERENCE.md section 2.
RULES = {
    "location": (
        _matches(r"[A-Za-z][A-Za-z0-9 ]{1,39}"),
        "an Azure region, by display name ('Central US') or short name ('centralus')",
    ),
    "aml_group": _GROUP,
    "adls_group": _GROUP,
    "workspace": (
        _matches(r"[A-Za-z0-9][A-Za-z0-9_-]{2,32}"),
        "3-33 characters: letters, digits, '-', '_', starting with a letter or digit",
    ),
    "compute": (
        _matches(r"[A-Za-z][A-Za-z0-9-]{1,15}"),
        "2-16 characters: letters, digits, '-', starting with a letter",
    ),
    "vm_size": (_matches(r"[A-Za-z0-9_]{1,64}"), "a VM size such as STANDARD_D1_V2: letters, digits, '_'"),
    "max_nodes": (lambda value: isinstance(value, int) and value >= 1, "an integer >= 1"),
    "account": (_matches(r"[a-z0-9]{3,24}"), "3-24 characters: lowercase letters and digits only"),
    "filesystem": (
        _matches(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]"),
        "3-63 characters: lowercase letters, digits and single '-', starting and ending with a letter or digit",
    ),
    "upload_path": (
        _relative_path,
        "a relative path such as models/highspenders/input.csv, parts separated by '/': no leading or doubled '/', "
        "no '.' or '..' parts, no backslash ('\\') and no control characters",
    ),
    "source": (_matches(r"[^\x00-\x1f\x7f]{1,4096}"), "a path to a local file"),
    "datastore": (_matches(r"[A-Za-z0-9_]{1,255}"), "1-255 characters: letters, digits and '_'"),
    "ml_cli": (lambda value: value in ("v1", "v2"), "v1 (the book's azure-cli-ml) or v2 (the current ml extension)"),
    "subscription": (_matches(r"[A-Za-z0-9][^\x00-\x1f\x7f]{0,99}"), "a subscription id or name"),
    "tenant": (
        _matches(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}"),
        "a tenant id (GUID) or domain such as contoso.onmicrosoft.com",
    ),
    "use_device_code": (lambda value: isinstance(value, bool), "a flag"),
}


@dataclass(frozen=True)
class Settings:
    """Every value the book's commands are built from; the defaults are the book's."""

    location: str = "Central US"
    aml_group: str = "aml-rg"
    workspace: str = "aml"
    compute: str = "d1compute"
    vm_size: str = "STANDARD_D1_V2"
    max_nodes: int = 1
    adls_group: str = "adls-rg"
    account: str | None = None  # globally unique, so the book cannot give one
    filesystem: str = "fs1"
    upload_path: str = "models/highspenders/input.csv"
    source: str = "input.csv"
    datastore: str = "MLData"
    ml_cli: str = "v1"  # the book's azure-cli-ml; "v2" is the current ml extension
    subscription: str | None = None  # az's --subscription on every command that takes it; None: az's default
    tenant: str | None = None  # az login --tenant (multi-tenant users)
    use_device_code: bool = False  # az login --use-device-code (WSL, SSH: no browser here)

    def subset(self, names) -> dict:
        """The named settings as a plain dict (what a step ran with)."""
        return {name: getattr(self, name) for name in names}


DEFAULTS = Settings()
NAMES = tuple(field.name for field in dataclasses.fields(Settings))

HELP = {
    "location": "Azure region for both resource groups.",
    "aml_group": "Resource group of the Azure ML workspace.",
    "workspace": "Azure ML workspace name.",
    "compute": "Compute cluster name.",
    "vm_size": "VM size of the compute cluster.",
    "max_nodes": "Maximum number of nodes of the compute cluster.",
    "adls_group": "Resource group of the ADLS Gen2 storage account.",
    "account": "ADLS Gen2 storage account name (globally unique; no default).",
    "filesystem": "ADLS Gen2 filesystem (container) name.",
    "upload_path": "Path of the uploaded file inside the filesystem.",
    "source": "Local file to upload.",
    "datastore": "Name of the datastore in the workspace.",
    "ml_cli": "Azure ML CLI: v1 = the book's azure-cli-ml extension (retired 2025-09-30), v2 = the current ml extension.",
    "subscription": "Subscription (id or name) for every az command that takes --subscription. [default: az's current one]",
    "tenant": "Sign in to this tenant (az login --tenant): its id or domain.",
    "use_device_code": "Sign in with a code shown here, in a browser elsewhere (az login --use-device-code; WSL, SSH).",
}


# azure-cli-core replaces any argument `@path`, `--x=@path` or `key=@path` with the file's content
# (REFERENCE.md section 4), so a value shaped like that would not reach az as written.
_AT_FILE = "not starting with '@' nor holding '=@' (az would read such a value from a file)"
# az's argument parser takes a value starting with '-' for a flag ("expected one argument"); a
# --source path is the exception: it is passed as ./<path> instead (commands.source_argument).
_DASH = "not starting with '-' (az would take it for an option)"


def check(name: str, value) -> str | None:
    """Return the rule that value breaks for setting name, or None when it is valid."""
    if isinstance(value, str) and (value.startswith("@") or "=@" in value):
        return _AT_FILE
    if isinstance(value, str) and value.startswith("-") and name != "source":
        return _DASH
    valid, rule = RULES[name]
    return None if valid(value) else rule
