"""Reading the simulator's state in end-to-end tests."""

from __future__ import annotations

import json
from pathlib import Path

THE_PRINCIPAL, ANOTHER_PRINCIPAL = "the principal", "another principal"


def recorded_principal(cwd: Path, state_file: str = ".azwrap/state.json") -> str | None:
    """The appId azwrap recorded in its state file under cwd (None: none recorded)."""
    path = cwd / state_file
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))["outputs"].get("sp", {}).get("appId")


def only_principal(state: dict) -> str:
    """The appId of the simulator's one service principal (for setups that record none, e.g. a script)."""
    [app_id] = state["service_principals"]
    return app_id


def essential(state: dict, principal: str | None) -> dict:
    """What two setups must share. Ids that differ per run (appId, secret, generated GUIDs) are left
    out, but not what ties the setup together: `principal` (the appId azwrap recorded) stands as "the
    principal" wherever it is used, so a role or a datastore bound to any other principal shows."""
    sp = state["service_principals"].get(principal) if principal else None

    def who(app_id: str) -> str:
        return THE_PRINCIPAL if sp is not None and app_id == principal else ANOTHER_PRINCIPAL

    def datastore(record: dict) -> dict:
        tied = {f: v for f, v in record.items() if f not in ("client_id", "client_secret", "tenant_id")}
        tied["client_id"] = who(record["client_id"])
        tied["client_secret"] = "its secret" if sp is not None and record["client_secret"] == sp["password"] else "another secret"
        tied["tenant_id"] = "its tenant" if sp is not None and record["tenant_id"] == sp["tenant"] else record["tenant_id"]
        return tied

    return {
        "logged_in": state["logged_in"],
        "extensions": sorted(state["extensions"]),
        "groups": {name: g["location"] for name, g in state["groups"].items()},
        "workspaces": {k: (w["name"], w["resource_group"], w["location"], w["id"]) for k, w in state["workspaces"].items()},
        "computes": {k: (c["type"], c["vm_size"], c["min_nodes"], c["max_nodes"]) for k, c in state["computes"].items()},
        "accounts": {k: (a["resource_group"], a["location"], a["kind"], a["hns"], a["id"])
                     for k, a in state["storage_accounts"].items() if not a.get("made_with")},
        # What a workspace made with it has random names: their kinds and groups must match.
        "made with a workspace": sorted([("Microsoft.Storage/storageAccounts", a["resource_group"])
                                         for a in state["storage_accounts"].values() if a.get("made_with")]
                                        + [(r["type"], r["resource_group"]) for r in state.get("resources", {}).values()
                                           if r.get("made_with")]),
        "filesystems": sorted(state["filesystems"]),
        "files": state["files"],
        "principals": len(state["service_principals"]),
        "recorded principal exists": sp is not None,
        "role_assignments": sorted((r["roleDefinitionName"], r["scope"], who(r["appId"])) for r in state["role_assignments"]),
        "datastores": {k: datastore(d) for k, d in state["datastores"].items()},
    }  # fmt: skip
