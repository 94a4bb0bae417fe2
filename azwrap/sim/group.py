"""`az group ...`: resource groups, and what a group's deletion takes with it."""
import os

from . import core
from .core import (F, SUB, arm_error, command, confirm, drop_assignments_at, find_group, group_id,
                   group_missing, norm_location, parse_tags, soft_delete_workspace, store_group)
from .account import require_location


def group_json(g):
    state = "Deleting" if g.get("deleting") is not None else "Succeeded"
    return {"id": g["id"], "location": g["location"], "managedBy": None, "name": g["name"],
            "properties": {"provisioningState": state}, "tags": g.get("tags"),
            "type": "Microsoft.Resources/resourceGroups"}


@command("group create", [F("--location -l", req=True), F("--name -n --resource-group -g", req=True),
                          F("--tags", kind="multi"), F("--managed-by")])
def cmd_group_create(st, a, ctx):
    name, loc = a["name"], norm_location(a["location"])
    require_location(loc)
    g = find_group(st, name)
    if g is not None and g.get("deleting") is not None:
        raise arm_error("ResourceGroupBeingDeleted", "The resource group '{}' is in deprovisioning state and "
                        "cannot perform this operation.".format(name), 1)
    if g is not None:
        if g["location"] != loc:
            raise arm_error("InvalidResourceGroupLocation", "Invalid resource group location '{}'. The Resource "
                            "group already exists in location '{}'.".format(loc, g["location"]))
        # A PUT: the group's tags become the command's, none when it gives none (Azure/azure-cli#11513).
        g["tags"] = parse_tags(a["tags"])
        return group_json(g)
    g = store_group(st, {"name": name, "location": loc, "id": group_id(name), "tags": parse_tags(a["tags"])})
    return group_json(g)


@command("group list", [F("--tag"), F("--query-examples", kind="bool")])
def cmd_group_list(st, a, ctx):
    """Every group of the current subscription (`[]` when none); --tag K or K=V filters (az-facts section 3)."""
    key, _, value = (a["tag"] or "").partition("=")
    out = []
    for g in st["groups"].values():
        if g.get("subscription", SUB) != core.CUR_SUB:
            continue
        tags = g.get("tags") or {}
        if a["tag"] and (key not in tags or ("=" in a["tag"] and tags[key] != value)):
            continue
        out.append(group_json(g))
    return out


@command("group show", [F("--name -n --resource-group -g", req=True)])
def cmd_group_show(st, a, ctx):
    g = find_group(st, a["name"])
    if g is None or advance_deletion(st, g):
        raise group_missing(a["name"])
    return group_json(g)


@command("group exists", [F("--name -n --resource-group -g", req=True)])
def cmd_group_exists(st, a, ctx):
    g = find_group(st, a["name"])
    return g is not None and not advance_deletion(st, g)


@command("group delete", [F("--name -n --resource-group -g", req=True), F("--yes -y", kind="bool"),
                          F("--no-wait", kind="bool"), F("--force-deletion-types -f")])
def cmd_group_delete(st, a, ctx):
    g = find_group(st, a["name"])
    if g is None:
        raise group_missing(a["name"])
    if not confirm(a):
        return None
    if a["no_wait"]:
        # Deletion takes minutes: the group stays (provisioningState Deleting) for AZSIM_DELETE_POLLS
        # more `group exists`/`group show` calls (default 2), then is gone.
        g["deleting"] = int(os.environ.get("AZSIM_DELETE_POLLS", "2") or 0)
        return None
    delete_group_now(st, g)


def advance_deletion(st, g):
    """One look at a group being deleted; True when that look finds it gone."""
    if g.get("deleting") is None:
        return False
    if g["deleting"] <= 0:
        delete_group_now(st, g)
        return True
    g["deleting"] -= 1
    return False


def delete_group_now(st, g):
    """Everything in the group goes with it (its id's subscription, whatever the default is by now)."""
    inside = g["id"].lower() + "/"
    for key, w in list(st["workspaces"].items()):
        # ARM deletes each resource with a plain DELETE: the group's workspaces are soft-deleted.
        if w["id"].lower().startswith(inside):
            soft_delete_workspace(st, key)
    for name, acct in list(st["storage_accounts"].items()):
        if acct["id"].lower().startswith(inside):
            del st["storage_accounts"][name]
            for coll in ("filesystems", "files"):
                for k in [k for k in st[coll] if k.startswith(name + "/")]:
                    del st[coll][k]
    for rid in [rid for rid in st["resources"] if rid.startswith(inside)]:
        del st["resources"][rid]
    drop_assignments_at(st, g["id"])
    del st["groups"][next(k for k, x in st["groups"].items() if x is g)]
