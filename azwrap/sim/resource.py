"""`az resource show/list/delete` over every ARM resource the simulator holds, `az tag update`, and `az rest`.

A lookup by id uses the id's own subscription, whatever az's default is (az-facts section 1: get_by_id);
`resource list` lists the current subscription's.
"""
import re

from . import core
from .arm import arm_json, delete_by_id, listed, locate, records
from .core import RG as RG_FLAG
from .core import AzError, F, arm_error, command, find_group, group_in, group_missing, parse_id, purge_workspace, \
    soft_delete_workspace


def resource_missing(resource_id):
    m = re.search(r"/resourceGroups/([^/]+)(?:/providers/(.+))?$", resource_id, re.I)
    if not m:
        return AzError("Operation failed with status: 'Bad Request'. Details: invalid resource id '{}'"
                       .format(resource_id))
    return arm_error("ResourceNotFound", "The Resource '{}' under resource group '{}' was not found. For more "
                     "details please go to https://aka.ms/ARMResourceNotFoundFix".format(m.group(2), m.group(1)), 3)


def parsed_ids(ids):
    """Every id checked before any request (az's _get_parsed_resource_ids): exit 1 for one that is no id."""
    out = []
    for rid in ids:
        parsed = parse_id(rid)
        if parsed is None:
            raise AzError("az resource: error: argument --ids: invalid ResourceId value: '{}'".format(rid))
        if parsed[1] is None:
            raise AzError("The type of value entered by --ids parameter is not supported.")
        out.append((rid, parsed))
    return out


def show_one(st, rid, parsed):
    """GET by id: the group first (ResourceGroupNotFound), then the resource (ResourceNotFound); exit 3."""
    sub, rg, provider = parsed
    g = group_in(st, sub, rg)
    if g is None:
        raise group_missing(rg)
    if provider is None:
        return arm_json(st, "groups", None, g)
    found = locate(st, rid)
    if found is None or found[0] == "groups":
        raise resource_missing(rid)
    return arm_json(st, *found)


@command("resource show", [F("--ids", kind="multi", req=True), F("--api-version"),
                           F("--include-response-body", kind="tri")])
def cmd_resource_show(st, a, ctx):
    """One id: an object; several: a list in their order; any failure: nothing on stdout (az-facts 1)."""
    found = [show_one(st, rid, parsed) for rid, parsed in parsed_ids(a["ids"])]
    return found[0] if len(found) == 1 else found


def tag_matches(tags, wanted):
    key, _, value = wanted.partition("=")
    return key in (tags or {}) and ("=" not in wanted or tags[key] == value)


@command("resource list", [F("--resource-group -g"), F("--resource-type"), F("--name -n"), F("--location -l"),
                           F("--tag"), F("--namespace")])
def cmd_resource_list(st, a, ctx):
    """The current subscription's resources (a group's with -g: exit 3 when the group is missing, not [])."""
    if a["resource_group"]:
        g = find_group(st, a["resource_group"])
        if g is None:
            raise group_missing(a["resource_group"])
        prefix = g["id"].lower() + "/"
    else:
        prefix = "/subscriptions/{}/".format(core.CUR_SUB)
    out = []
    for coll, key, rec, rid in sorted(records(st), key=lambda r: r[3].lower()):
        if coll in ("groups", "datastores") or not rid.lower().startswith(prefix):
            continue  # proxy resources (datastores) are never listed
        item = listed(st, coll, key, rec)
        if a["resource_type"] and item["type"].lower() != a["resource_type"].lower():
            continue
        if a["namespace"] and not item["type"].lower().startswith(a["namespace"].lower() + "/"):
            continue
        if a["name"] and item["name"].lower() != a["name"].lower():
            continue
        if a["location"] and (item["location"] or "").lower() != core.norm_location(a["location"]):
            continue
        if a["tag"] and not tag_matches(item["tags"], a["tag"]):
            continue
        out.append(item)
    return out


def ws_by_id(st, resource_id, coll="workspaces"):
    """The workspace (or soft-deleted one) with that id, in the id's own subscription."""
    wanted = resource_id.rstrip("/").lower()
    for key, w in st[coll].items():
        if w["id"].lower() == wanted:
            return key, w
    return None, None


def delete_one(st, rid, parsed):
    """ARM's DELETE by id: True when it was accepted. A missing resource in an existing group is a 204
    (accepted, nothing to do); a missing group, or a child whose parent is missing, is a 404 (refused)."""
    sub, rg, provider = parsed
    if group_in(st, sub, rg) is None:
        return False
    parts = provider.split("/")
    if len(parts) > 3 and locate(st, rid.rsplit("/", 2)[0]) is None:
        return False  # .../workspaces/W/computes/C under a missing W: the RP's 404
    delete_by_id(st, rid)
    return True


@command("resource delete", [F("--ids", kind="multi", req=True), F("--api-version"), F("--no-wait", kind="bool")])
def cmd_resource_delete(st, a, ctx):
    """az's delete_resource: each id in turn, what fails is tried again while others succeed; the ones
    deleted stay deleted when another fails (exit 1). Prints null per id (nothing for one id)."""
    results, failed = [], []
    for rid, parsed in parsed_ids(a["ids"]):
        if delete_one(st, rid, parsed):
            results.append(None)
        else:
            failed.append(rid)
    if failed:
        err = AzError("Some resources failed to be deleted (run with `--verbose` for more information):\n"
                      + "\n".join(failed))
        err.keep_changes = True
        raise err
    return results[0] if len(results) == 1 else results


def change_tags(tags, operation, given):
    tags = dict(tags or {})
    if operation == "merge":
        tags.update(given)
    elif operation == "replace":
        tags = dict(given)
    else:  # delete: by name, or by name and value
        for k, v in given.items():
            if k in tags and (v == "" or tags[k] == v):
                del tags[k]
    return tags


@command("tag update", [F("--resource-id", req=True), F("--operation", req=True, choices=["Delete", "Merge", "Replace"]),
                        F("--tags", kind="multi", req=True)])
def cmd_tag_update(st, a, ctx):
    """Tags of a group or a resource, found by id; prints the TagsResource (az-facts section 3)."""
    given = core.parse_tags(a["tags"]) or {}
    if not [k for k in given if k]:
        raise AzError("Tags could not be empty.")
    rid = a["resource_id"].rstrip("/")
    parsed = parse_id(rid)
    if parsed is None or parsed[1] is None:
        raise AzError("az-sim models `az tag update` on resource groups and resources only, not '{}'".format(rid))
    sub, rg, provider = parsed
    g = group_in(st, sub, rg)
    if g is None:
        raise group_missing(rg)
    found = ("groups", None, g) if provider is None else locate(st, rid)
    if found is None or (provider is not None and found[0] == "groups"):
        raise resource_missing(rid)
    if found[0] == "datastores":
        raise arm_error("InvalidResourceType", "The resource type 'workspaces/datastores' of provider namespace "
                        "'Microsoft.MachineLearningServices' does not support tags.")
    rec = found[2]
    rec["tags"] = change_tags(rec.get("tags"), a["operation"].lower(), given)
    return {"id": rid + "/providers/Microsoft.Resources/tags/default", "name": "default",
            "type": "Microsoft.Resources/tags", "properties": {"tags": rec["tags"]}, "resourceGroup": rg}


@command("rest", [F("--method -m", choices=["delete", "get", "head", "options", "patch", "post", "put"]),
                  F("--url --uri -u", req=True), F("--body -b"), F("--headers", kind="multi"),
                  F("--uri-parameters --url-parameters", kind="multi"), F("--resource"),
                  F("--skip-authorization-header", kind="bool"), F("--output-file")])
def cmd_rest(st, a, ctx):
    from urllib.parse import parse_qs, urlsplit

    url = urlsplit(a["url"])
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    method = (a["method"] or "get").lower()
    if url.scheme != "https" or url.netloc.lower() != "management.azure.com":
        raise AzError("az-sim models `az rest` for https://management.azure.com only, not {}".format(a["url"]))
    if not query.get("api-version"):
        raise AzError("Bad Request({{\"error\":{{\"code\":\"MissingApiVersionParameter\",\"message\":\"The api-version "
                      "query parameter (?api-version=) is required for all requests.\"}}}})")
    key, w = ws_by_id(st, url.path)
    if method == "get":
        if w is None:
            raise AzError("Not Found({{\"error\":{{\"code\":\"ResourceNotFound\",\"message\":\"The Resource '{}' "
                          "was not found.\"}}}})".format(url.path))
        return arm_json(st, "workspaces", key, w)  # ARM's own JSON, as `az resource show` prints it
    if method == "delete":
        dkey, dw = ws_by_id(st, url.path, "deleted_workspaces")
        if query.get("forceToPurge", "").lower() == "true":
            if w is not None:
                purge_workspace(st, key)
            elif dw is not None:
                purge_workspace(st, dkey)
        elif w is not None:
            soft_delete_workspace(st, key)
        return None  # 200/202/204 with no body; the name may still be blocked (AZSIM_PURGE_LAG)
    raise AzError("az-sim models only GET and DELETE of workspaces with `az rest`")


@command("acr create", [F("--name -n", req=True), RG_FLAG, F("--sku", req=True, choices=["Basic", "Standard", "Premium"]),
                        F("--location -l"), F("--admin-enabled", kind="tri")])
def cmd_acr_create(st, a, ctx):
    """A container registry (for a user's own registry the workspace may be linked to)."""
    from .dependents import add_registry

    g = find_group(st, a["resource_group"])
    if g is None:
        raise group_missing(a["resource_group"])
    rid = add_registry(st, g, a["name"], (a["location"] or g["location"]).replace(" ", "").lower())
    return arm_json(st, *locate(st, rid))
