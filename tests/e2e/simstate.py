"""Reading the simulator's state in end-to-end tests."""

from __future__ import annotations


def essential(state: dict) -> dict:
    """What two setups must share; not ids that differ per run (appId, secret, generated GUIDs)."""
    return {
        "logged_in": state["logged_in"],
        "extensions": sorted(state["extensions"]),
        "groups": {name: g["location"] for name, g in state["groups"].items()},
        "workspaces": {k: (w["name"], w["resource_group"], w["location"], w["id"]) for k, w in state["workspaces"].items()},
        "computes": {k: (c["type"], c["vm_size"], c["min_nodes"], c["max_nodes"]) for k, c in state["computes"].items()},
        "accounts": {k: (a["resource_group"], a["location"], a["kind"], a["hns"], a["id"])
                     for k, a in state["storage_accounts"].items()},
        "filesystems": sorted(state["filesystems"]),
        "files": state["files"],
        "principals": len(state["service_principals"]),
        "role_assignments": sorted((r["roleDefinitionName"], r["scope"]) for r in state["role_assignments"]),
        "datastores": {k: {f: v for f, v in d.items() if f not in ("client_id", "client_secret")}
                       for k, d in state["datastores"].items()},
    }  # fmt: skip
