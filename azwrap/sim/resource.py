"""`az resource show/list/delete` over every ARM resource the simulator holds, and `az rest`."""
import re

from . import core
from .core import (AzError, F, SUB, arm_error, command, find_group, find_ws, group_missing, in_current_subscription,
                   purge_workspace, soft_delete_workspace)
from .group import group_json
from .ml_v2 import ws_v2_json


def resource_index(st):
    """Every ARM resource the simulator holds, by lowercased id, as `az resource show` prints it."""
    out = {}
    for g in st["groups"].values():
        if g.get("subscription", SUB) == core.CUR_SUB:
            out[g["id"].lower()] = dict(group_json(g), resourceGroup=g["name"])
    for acct in st["storage_accounts"].values():
        out[acct["id"].lower()] = {"id": acct["id"], "name": acct["name"], "type": "Microsoft.Storage/storageAccounts",
                                   "location": acct["location"], "resourceGroup": acct["resource_group"],
                                   "kind": acct.get("kind", "StorageV2"),
                                   "properties": {"isHnsEnabled": acct["hns"], "provisioningState": "Succeeded"}}
    for w in st["workspaces"].values():
        out[w["id"].lower()] = {"id": w["id"], "name": w["name"], "location": w["location"],
                                "resourceGroup": w["resource_group"],
                                "type": "Microsoft.MachineLearningServices/workspaces",
                                "properties": {"friendlyName": w.get("friendly_name") or w["name"],
                                               "provisioningState": "Succeeded", "workspaceId": w["workspace_id"]}}
    for c in st["computes"].values():
        out[c["id"].lower()] = {"id": c["id"], "name": c["name"], "location": c["location"],
                                "resourceGroup": c["resource_group"],
                                "type": "Microsoft.MachineLearningServices/workspaces/computes",
                                "properties": {"computeType": c["type"], "provisioningState": c.get("provisioning_state", "Succeeded"),
                                               "properties": {"vmSize": c["vm_size"], "vmPriority": "Dedicated",
                                                              "scaleSettings": {"maxNodeCount": c["max_nodes"],
                                                                                "minNodeCount": c["min_nodes"]}}}}
    for key, d in st["datastores"].items():
        w = st["workspaces"].get(key.rsplit("/", 1)[0])
        if w is None:
            continue
        rid = "{}/datastores/{}".format(w["id"], d["name"])
        out[rid.lower()] = {"id": rid, "name": d["name"], "resourceGroup": w["resource_group"], "location": None,
                            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
                            "properties": {"datastoreType": "AzureDataLakeGen2", "accountName": d["account_name"],
                                           "filesystem": d["filesystem"], "isDefault": False,
                                           "credentials": {"credentialsType": "ServicePrincipal",
                                                           "clientId": d["client_id"], "tenantId": d["tenant_id"],
                                                           "authorityUrl": "https://login.microsoftonline.com"}}}
    return {k: v for k, v in out.items() if in_current_subscription(k)}


def resource_missing(resource_id):
    m = re.search(r"/resourceGroups/([^/]+)(?:/providers/(.+))?$", resource_id, re.I)
    if not m:
        return AzError("Operation failed with status: 'Bad Request'. Details: invalid resource id '{}'"
                       .format(resource_id))
    return arm_error("ResourceNotFound", "The Resource '{}' under resource group '{}' was not found. For more "
                     "details please go to https://aka.ms/ARMResourceNotFoundFix".format(m.group(2), m.group(1)), 3)


@command("resource show", [F("--ids", kind="multi", req=True), F("--api-version"),
                           F("--include-response-body", kind="tri")])
def cmd_resource_show(st, a, ctx):
    index, found = resource_index(st), []
    for rid in a["ids"]:
        m = re.search(r"/resourceGroups/([^/]+)", rid, re.I)
        if m and find_group(st, m.group(1)) is None:
            raise group_missing(m.group(1))
        if rid.rstrip("/").lower() not in index:
            raise resource_missing(rid)
        found.append(index[rid.rstrip("/").lower()])
    return found[0] if len(found) == 1 else found


@command("resource list", [F("--resource-group -g"), F("--resource-type"), F("--name -n"), F("--location -l"),
                           F("--tag"), F("--namespace")])
def cmd_resource_list(st, a, ctx):
    if a["resource_group"] and find_group(st, a["resource_group"]) is None:
        raise group_missing(a["resource_group"])
    out = []
    for _, r in sorted(resource_index(st).items()):
        if r["type"] in ("Microsoft.Resources/resourceGroups", "Microsoft.MachineLearningServices/workspaces/datastores"):
            continue  # a group is not in itself; a datastore is a proxy resource, which ARM's list leaves out
        if a["resource_group"] and r["resourceGroup"].lower() != a["resource_group"].lower():
            continue
        if a["resource_type"] and r["type"].lower() != a["resource_type"].lower():
            continue
        if a["name"] and r["name"].lower() != a["name"].lower():
            continue
        out.append(r)
    return out


def ws_by_id(st, resource_id, coll="workspaces"):
    m = re.match(r"^/subscriptions/[^/]+/resourceGroups/([^/]+)/providers/Microsoft\.MachineLearningServices/"
                 r"workspaces/([^/?]+)$", resource_id, re.I)
    return find_ws(st, m.group(1), m.group(2), coll) if m else (None, None)


@command("resource delete", [F("--ids", kind="multi", req=True), F("--api-version"), F("--no-wait", kind="bool")])
def cmd_resource_delete(st, a, ctx):
    for rid in a["ids"]:
        key, w = ws_by_id(st, rid)
        if w is not None:
            soft_delete_workspace(st, key)
            continue
        acct = next((x for x in st["storage_accounts"].values() if x["id"].lower() == rid.lower()), None)
        if acct is not None:
            del st["storage_accounts"][acct["name"]]
            continue
        comp = next((k for k, c in st["computes"].items() if c["id"].lower() == rid.lower()), None)
        if comp is not None:
            del st["computes"][comp]
            continue
        raise resource_missing(rid)


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
        return ws_v2_json(w)
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
