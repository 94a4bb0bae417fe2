"""`az ml ...` of the azure-cli-ml extension ("v1"): workspaces, compute targets, datastores."""
import re

from .core import (AzError, F, RG, TENANT, WS, arm_time, command, find_group, find_ws, flip_guid, group_id, new_guid,
                   norm_location, refuse_soft_deleted, require_account, require_ws, soft_delete_workspace, store_group,
                   ws_key)
from .ad import check_client_secret
from .arm import dependent_ids
from .dependents import TOOLKIT, delete_linked, make_dependents


def v1_not_found(what):
    """The v1 extension wraps the v1 SDK, whose not-found is an ordinary error: exit 1 (REFERENCE.md 7)."""
    return AzError("{} not found.".format(what), 1)


def ws_id(rg_id, name):
    return "{}/providers/Microsoft.MachineLearningServices/workspaces/{}".format(rg_id, name)


def make_ws(st, g, name, location, api, tags=None):
    """A new workspace (a new workspaceId each time) and, in its group, the resources it makes with it."""
    w = {"name": name, "resource_group": g["name"], "location": norm_location(location or g["location"]),
         "id": ws_id(g["id"], name), "workspace_id": new_guid(), "api": api, "created": arm_time(),
         "friendly_name": name, "description": "", "tags": dict({"createdByToolkit": TOOLKIT[api]}, **(tags or {}))}
    make_dependents(st, g, w, api)
    return w


def v1_style(rid):
    """The v1 SDK prints its dependents' ids with the provider part in lower case."""
    if not rid:
        return rid
    head, _, tail = rid.partition("/providers/")
    return head + "/providers/" + tail.lower()


def ws_v1_json(w):
    deps = dependent_ids(w)
    if not w.get("dependents"):  # a workspace recorded before dependents were modelled
        base = w["id"].split("/providers/")[0] + "/providers/"
        short = re.sub(r"[^a-z0-9]", "", w["name"].lower())[:12]
        deps = {"applicationInsights": base + "microsoft.insights/components/{}insights".format(short),
                "keyVault": base + "microsoft.keyvault/vaults/{}keyvault".format(short),
                "storageAccount": base + "microsoft.storage/storageaccounts/{}storage".format(short),
                "containerRegistry": None}
    out = {"applicationInsights": v1_style(deps["applicationInsights"]), "description": w.get("description", ""),
           "discoveryUrl": "https://{}.api.azureml.ms/discovery".format(w["location"]),
           "friendlyName": w.get("friendly_name") or w["name"], "hbiWorkspace": False, "id": w["id"],
           "identityPrincipalId": flip_guid(w["workspace_id"]),
           "identityTenantId": TENANT, "identityType": "SystemAssigned",
           "keyVault": v1_style(deps["keyVault"]), "location": w["location"], "name": w["name"],
           "resourceGroup": w["resource_group"], "sku": "Basic", "storageAccount": v1_style(deps["storageAccount"]),
           "tags": w.get("tags") or {}, "workspaceid": w["workspace_id"]}
    if deps["containerRegistry"]:  # the v1 SDK's as_dict drops null keys
        out["containerRegistry"] = v1_style(deps["containerRegistry"])
    return out


@command("ml workspace create", [F("--workspace-name -w", req=True), RG, F("--location -l"),
                                 F("--friendly-name -f"), F("--sku", choices=["basic", "enterprise"]),
                                 F("--exist-ok", kind="bool"), F("--yes -y", kind="bool"),
                                 F("--create-resource-group", kind="bool"), F("--description")], dialect="v1")
def cmd_ws_create_v1(st, a, ctx):
    g = find_group(st, a["resource_group"])
    if g is None:
        if not a["create_resource_group"]:
            raise AzError("Resource group '{}' does not exist. Use --create-resource-group to create it."
                          .format(a["resource_group"]))
        g = store_group(st, {"name": a["resource_group"], "location": norm_location(a["location"] or "eastus"),
                             "id": group_id(a["resource_group"]), "tags": None})
    _, w = find_ws(st, g["name"], a["workspace_name"])
    if w is None:
        refuse_soft_deleted(st, g["name"], a["workspace_name"])
    if w is not None:
        if not a["exist_ok"]:
            raise AzError("Workspace with name '{}' already exists under resource group with name '{}'."
                          .format(a["workspace_name"], g["name"]))
        return ws_v1_json(w)
    w = make_ws(st, g, a["workspace_name"], a["location"], "v1")
    w["friendly_name"] = a["friendly_name"] or w["name"]
    st["workspaces"][ws_key(g["name"], w["name"])] = w
    return ws_v1_json(w)


@command("ml workspace show", [F("--workspace-name -w", req=True), RG], dialect="v1")
def cmd_ws_show_v1(st, a, ctx):
    _, w = find_ws(st, a["resource_group"], a["workspace_name"])
    if w is None:
        raise v1_not_found("Workspace {} in resource group {}".format(a["workspace_name"], a["resource_group"]))
    return ws_v1_json(w)


@command("ml workspace delete", [F("--workspace-name -w", req=True), RG, F("--delete-dependent-resources", kind="bool"),
                                 F("--no-wait", kind="bool")], dialect="v1")
def cmd_ws_delete_v1(st, a, ctx):
    key, w = find_ws(st, a["resource_group"], a["workspace_name"])
    if w is None:
        raise v1_not_found("Workspace {} in resource group {}".format(a["workspace_name"], a["resource_group"]))
    if a["delete_dependent_resources"]:  # the v1 SDK's Workspace.delete(delete_dependent_resources=True)
        delete_linked(st, w)
    soft_delete_workspace(st, key)  # the v1 CLI cannot purge


def compute_id(w, name):
    return "{}/computes/{}".format(w["id"], name)


@command("ml computetarget create amlcompute",
         [F("--name -n", req=True), F("--vm-size -s", req=True), F("--max-nodes", kind="int", default=4),
          F("--min-nodes", kind="int", default=0), F("--idle-seconds-before-scaledown", kind="int", default=1800),
          F("--vm-priority", choices=["dedicated", "lowpriority"]), WS, RG, F("--location -l"),
          F("--description")], dialect="v1")
def cmd_computetarget_create(st, a, ctx):
    wkey, w = require_ws(st, a["resource_group"], a["workspace_name"])
    if a["max_nodes"] < 1 or a["min_nodes"] < 0 or a["min_nodes"] > a["max_nodes"]:
        raise AzError("Invalid scale settings: --max-nodes must be >= 1 and 0 <= --min-nodes <= --max-nodes.")
    key = "{}/{}".format(wkey, a["name"])
    if key in st["computes"]:
        raise AzError("Compute target with name '{}' already exists in workspace '{}'."
                      .format(a["name"], w["name"]))
    c = {"name": a["name"], "workspace": w["name"], "resource_group": w["resource_group"], "type": "AmlCompute",
         "vm_size": a["vm_size"], "max_nodes": a["max_nodes"], "min_nodes": a["min_nodes"],
         "idle_seconds": a["idle_seconds_before_scaledown"], "priority": (a["vm_priority"] or "dedicated"),
         "location": w["location"], "id": compute_id(w, a["name"]), "created": arm_time(), "tags": {}}
    st["computes"][key] = c
    return compute_v1_json(c)


def compute_v1_json(c):
    return {"computeType": "AmlCompute", "description": None, "id": c["id"], "location": c["location"],
            "name": c["name"], "provisioningState": "Succeeded", "resourceGroup": c["resource_group"],
            "scaleSettings": {"maxNodeCount": c["max_nodes"], "minNodeCount": c["min_nodes"],
                              "nodeIdleTimeBeforeScaleDown": "PT{}S".format(c.get("idle_seconds", 1800))},
            "vmPriority": c.get("priority", "dedicated").capitalize(), "vmSize": c["vm_size"],
            "workspaceName": c["workspace"]}


@command("ml computetarget show", [F("--name -n", req=True), WS, RG], dialect="v1")
def cmd_computetarget_show(st, a, ctx):
    wkey, w = find_ws(st, a["resource_group"], a["workspace_name"])
    c = st["computes"].get("{}/{}".format(wkey, a["name"])) if w else None
    if c is None:
        raise v1_not_found("ComputeTargetException:\n\tMessage: ComputeTargetNotFound: Compute target {}".format(a["name"]))
    return compute_v1_json(c)


@command("ml computetarget delete", [F("--name -n", req=True), WS, RG], dialect="v1")
def cmd_computetarget_delete(st, a, ctx):
    wkey, w = find_ws(st, a["resource_group"], a["workspace_name"])
    if st["computes"].pop("{}/{}".format(wkey, a["name"]), None) is None:
        raise v1_not_found("ComputeTargetException:\n\tMessage: ComputeTargetNotFound: Compute target {}".format(a["name"]))


def datastore_v1_json(d):
    return {"accountName": d["account_name"], "authorityUrl": "https://login.microsoftonline.com",
            "clientId": d["client_id"], "datastoreType": "AzureDataLakeGen2", "endpoint": "core.windows.net",
            "filesystem": d["filesystem"], "name": d["name"], "protocol": "https",
            "resourceUrl": "https://storage.azure.com/", "serviceDataAccessAuthIdentity": "None",
            "tenantId": d["tenant_id"]}


@command("ml datastore attach-adls-gen2",
         [F("--account-name -a", req=True), F("--client-id", req=True), F("--client-secret", req=True),
          F("--tenant-id", req=True), F("--file-system -c", req=True), F("--name -n", req=True), WS, RG,
          F("--adls-resource-url"), F("--authority-url"), F("--endpoint"), F("--protocol"),
          F("--grant-workspace-msi-access", kind="bool")], dialect="v1")
def cmd_datastore_attach(st, a, ctx):
    wkey, w = require_ws(st, a["resource_group"], a["workspace_name"])
    require_account(st, a["account_name"])
    key = "{}/{}".format(wkey, a["name"])
    if key in st["datastores"]:
        raise AzError("A datastore with name '{}' already exists in workspace '{}'.".format(a["name"], w["name"]))
    check_client_secret(st, a["client_id"], a["client_secret"])
    d = {"name": a["name"], "type": "azure_data_lake_gen2", "account_name": a["account_name"],
         "filesystem": a["file_system"], "client_id": a["client_id"], "client_secret": a["client_secret"],
         "tenant_id": a["tenant_id"], "api": "v1"}
    st["datastores"][key] = d
    return datastore_v1_json(d)


@command("ml datastore detach", [F("--name -n", req=True), WS, RG], dialect="v1")
def cmd_datastore_detach_v1(st, a, ctx):
    wkey, w = require_ws(st, a["resource_group"], a["workspace_name"])
    if st["datastores"].pop("{}/{}".format(wkey, a["name"]), None) is None:
        # The v1 SDK's error is not an HTTP 404: exit 1 (REFERENCE.md section 7).
        raise AzError("Datastore '{}' was not found in workspace '{}'.".format(a["name"], w["name"]))


@command("ml datastore show", [F("--name -n", req=True), WS, RG], dialect="v1")
def cmd_datastore_show_v1(st, a, ctx):
    wkey, w = find_ws(st, a["resource_group"], a["workspace_name"])
    d = st["datastores"].get("{}/{}".format(wkey, a["name"])) if w else None
    if d is None:
        raise v1_not_found("Datastore {}".format(a["name"]))
    return datastore_v1_json(d)


@command("ml datastore list", [WS, RG], dialect="v1")
def cmd_datastore_list_v1(st, a, ctx):
    wkey, w = require_ws(st, a["resource_group"], a["workspace_name"])
    return [datastore_v1_json(d) for k, d in st["datastores"].items() if k.startswith(wkey + "/")]
