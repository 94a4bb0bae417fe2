"""The hand-off to the next chapter: `.azureml/config.json`, which the Azure ML SDKs read to find the workspace.

`MLClient.from_config()` (azure-ai-ml, v2) and `Workspace.from_config()` (azureml-core, v1) look for
config.json in `.azureml/`, `aml_config/` or the directory itself, from the current directory upwards,
and read `subscription_id`, `resource_group` and `workspace_name` (REFERENCE.md section 8); v1's
`az ml folder attach` wrote the same file, indented by 4. It names the workspace only: no secret.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..errors import MissingInput, Refused
from ..book.quoting import shown

CONFIG_PATH = Path(".azureml") / "config.json"
FIELDS = ("subscription_id", "resource_group", "workspace_name")
SAME, WRITTEN, REPLACED = "same", "written", "replaced"


def workspace_config(state: dict, state_path: Path) -> dict:
    """The three fields of the recorded workspace; MissingInput when no workspace is recorded."""
    subscription = (state.get("subscription") or {}).get("id")
    record = state["resources"].get("workspace") or {}
    named = record.get("settings") or {}
    if not (subscription and "workspace" in state["steps"] and named.get("workspace") and named.get("aml_group")):
        raise MissingInput(f"no workspace is recorded in {state_path}: run `azwrap all` (or `azwrap workspace`) first")
    return {"subscription_id": subscription, "resource_group": named["aml_group"], "workspace_name": named["workspace"]}


def existing(path: Path) -> dict | None:
    """What the file at path names (None: no file); unreadable or not a workspace file: {}."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeError):
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return {field: found.get(field) for field in FIELDS} if isinstance(found, dict) else {}


def write(path: Path, wanted: dict, *, force: bool = False) -> str:
    """Write wanted to path: SAME (it names this workspace already), WRITTEN (there was none), REPLACED
    (--force over another); Refused for another workspace's file without force."""
    found = existing(path)
    if found == wanted:
        return SAME
    if found is not None and not force:
        what = (f"names workspace {shown(found.get('workspace_name'))} in {shown(found.get('resource_group'))} "
                f"(subscription {found.get('subscription_id')})" if any(found.values()) else "is not a workspace file")  # fmt: skip
        raise Refused(f"{path} {what}, not {shown(wanted['workspace_name'])} in {shown(wanted['resource_group'])}: left as it is. "
                      "Run `azwrap sdk-config --force` to replace it")  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole or not at all: a temporary file beside it, then renamed over it.
    fd, temporary = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            json.dump(wanted, handle, indent=4)
            handle.write("\n")
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600; the file holds no secret
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return WRITTEN if found is None else REPLACED
