"""What a sound state file holds, field by field: a state damaged by hand (or by another program) is
refused with the field named, before any of its values reaches az."""

from __future__ import annotations

import re


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_RESOURCE_GROUP_ID = r"/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[A-Za-z0-9_\-.()]{1,90}/providers/"
# What azwrap records, field by field: the ids are passed to az as --scope, the GUIDs as --assignee.
_OUTPUT_RULES = {
    ("sp", "appId"): (lambda v: _GUID.fullmatch(v), "not a GUID"),
    ("sp", "tenant"): (lambda v: _GUID.fullmatch(v), "not a GUID"),
    ("acc", "id"): (lambda v: re.fullmatch(_RESOURCE_GROUP_ID + r"Microsoft\.Storage/storageAccounts/[a-z0-9]{3,24}", v, re.I),
                    "not a storage account id"),
    ("aml", "id"): (lambda v: re.fullmatch(_RESOURCE_GROUP_ID + r"Microsoft\.MachineLearningServices/workspaces/"
                                           r"[A-Za-z0-9_-]{3,33}", v, re.I), "not an Azure ML workspace id"),  # fmt: skip
}
_ROLE_ASSIGNMENT_ID = re.compile(r"/subscriptions/[0-9a-fA-F-]{36}/\S*providers/Microsoft\.Authorization/"
                                 r"roleAssignments/[0-9a-fA-F-]{1,36}", re.I)
_REQUIRED_OUTPUTS = {"sp": ("appId", "tenant"), "acc": ("id",), "aml": ("id",)}
# The secret is never an argument of az (it goes by pipe or file), so it may hold any text.
_FREE_TEXT = {("sp", "password")}


def damaged_field(state: dict) -> str | None:
    """The first field of state that azwrap would not have written, named; None when all are sound."""
    steps, outputs = state["steps"], state["outputs"]
    for part in ("resources", "settings", "subscription", "purged"):
        if not isinstance(state.get(part, {}), dict):
            return f"{part}: not an object"
    for key, record in (state.get("resources") or {}).items():
        if not isinstance(record, dict) or not isinstance(record.get("settings", {}), dict):
            return f"resources.{key}: not an object with settings"
    if not isinstance(steps, dict):
        return "steps: not an object"
    for name, record in steps.items():
        if not isinstance(record, dict):
            return f"steps.{name}: not an object"
        for key in ("settings", "inputs"):
            if not isinstance(record.get(key, {}), dict):
                return f"steps.{name}.{key}: not an object"
        if not isinstance(record.get("done_at", ""), str):
            return f"steps.{name}.done_at: not text"
    if not isinstance(outputs, dict):
        return "outputs: not an object"
    for var, fields in outputs.items():
        if not isinstance(fields, dict):
            return f"outputs.{var}: not an object"
        for field in _REQUIRED_OUTPUTS.get(var, ()):
            if field not in fields:
                return f"outputs.{var}.{field}: missing"
        for field, value in fields.items():
            if not isinstance(value, str):
                return f"outputs.{var}.{field}: not text"
            valid, what = _OUTPUT_RULES.get((var, field), (lambda v: True, ""))
            if not valid(value):
                return f"outputs.{var}.{field}: {what}"
    retired = state.get("retired_sp", [])
    if not isinstance(retired, list) or not all(_retired_entry(v) for v in retired):
        return "retired_sp: not a list of GUIDs or of {appId, assignments, gone, kept}"
    if not isinstance(state.get("rotation", {}), dict):
        return "rotation: not an object"
    return _at_value(state, "")


def _retired_entry(entry) -> bool:
    """A replaced principal still to delete: its appId (older states), or its appId with the ids of its
    role assignments (passed to az as --ids) and whether it is gone already."""
    if isinstance(entry, str):
        return bool(_GUID.fullmatch(entry))
    if not isinstance(entry, dict) or not isinstance(entry.get("appId"), str) or not _GUID.fullmatch(entry["appId"]):
        return False
    assignments = entry.get("assignments", [])
    flags_ok = all(isinstance(entry.get(flag, False), bool) for flag in ("gone", "kept"))  # kept: --keep-old-sp's
    return flags_ok and isinstance(assignments, list) and all(
        isinstance(i, str) and _ROLE_ASSIGNMENT_ID.fullmatch(i) for i in assignments)


def _at_value(data, where: str) -> str | None:
    """A recorded value starting with '@', which az would read from a file (REFERENCE.md section 7)."""
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = ((str(i), v) for i, v in enumerate(data))
    else:
        if isinstance(data, str) and data.startswith("@") and tuple(where.split(".")[-2:]) not in _FREE_TEXT:
            return f"{where}: starts with '@'"
        return None
    for key, value in items:
        found = _at_value(value, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None
