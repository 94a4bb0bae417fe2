"""What a workspace makes in its group besides itself (az-facts section 4), and what Azure adds there later.

`ml workspace create` (v1 and v2) makes a storage account, a key vault and application insights in the
workspace's group, their ids in the workspace's JSON; v2 also a log analytics workspace, whose id is only
in the insights resource's properties.WorkspaceResourceId (v1's classic insights has none). Their names are
the ml SDK's: the first 8 letters and digits of the workspace's name, the first 8 of the kind, random hex,
24 characters at most. They carry the workspace's tags (createdByToolkit).

AZSIM_SHARED_LOG_ANALYTICS=1: the insights (v1 and v2) send to the subscription's shared log analytics
workspace DefaultResourceGroup-<LOC>/DefaultWorkspace-<subscription>-<LOC>, made by the first workspace that
needs it and reused by the next ones (v2 then makes none of its own).

Azure itself adds, asynchronously, an action group "Application Insights Smart Detection" (one per group,
reused) and an alert rule "Failure Anomalies - <insights name>": here they appear once
AZSIM_SMART_DETECTION_AFTER further calls (default 3) have started, if the insights is still there.
"""
import os
import re

from .arm import add_resource, delete_by_id, locate
from . import core
from .core import TENANT, arm_time, find_group, group_id, group_in, new_guid, parse_id, store_group

TOOLKIT = {"v1": "cli-v1-1.41.0", "v2": "cli-v2-2.30.0"}
ACTION_GROUP = "Application Insights Smart Detection"


def dependent_name(ws_name, kind):
    return (re.sub(r"[^a-z0-9]", "", ws_name.lower())[:8] + kind[:8] + new_guid().replace("-", ""))[:24]


def make_dependents(st, g, w, api):
    """The workspace's storage account, key vault, insights (and v2's log analytics), recorded in w."""
    tags, loc = dict(w.get("tags") or {}), w["location"]
    name = dependent_name(w["name"], "storage")
    acct = {"name": name, "resource_group": g["name"], "hns": False, "location": loc, "kind": "StorageV2",
            "sku": "Standard_LRS", "created": arm_time(), "tags": tags, "made_with": w["id"],
            "id": "{}/providers/Microsoft.Storage/storageAccounts/{}".format(g["id"], name)}
    st["storage_accounts"][name] = acct
    vault = dependent_name(w["name"], "keyvault")
    kv = add_resource(st, g, "Microsoft.KeyVault/vaults", vault, loc, tags, {
        "tenantId": TENANT, "sku": {"family": "A", "name": "standard"}, "enableSoftDelete": True,
        "softDeleteRetentionInDays": 90, "vaultUri": "https://{}.vault.azure.net/".format(vault),
        "provisioningState": "Succeeded"}, made_with=w["id"])
    insights = {"ApplicationId": dependent_name(w["name"], "insights"), "AppId": new_guid(),
                "Application_Type": "web", "InstrumentationKey": new_guid(), "provisioningState": "Succeeded",
                "CreationDate": arm_time("+00:00"), "TenantId": TENANT}
    if os.environ.get("AZSIM_SHARED_LOG_ANALYTICS") == "1":
        insights["WorkspaceResourceId"] = shared_log_analytics(st, loc)
    elif api == "v2":
        insights["WorkspaceResourceId"] = add_resource(
            st, g, "Microsoft.OperationalInsights/workspaces", dependent_name(w["name"], "logalytics"), loc, tags,
            {"customerId": new_guid(), "provisioningState": "Succeeded", "retentionInDays": 30,
             "sku": {"name": "PerGB2018"}}, made_with=w["id"])
    ai = add_resource(st, g, "Microsoft.Insights/components", insights["ApplicationId"], loc, tags, insights, "web",
                      made_with=w["id"])
    w["dependents"] = {"storageAccount": acct["id"], "keyVault": kv, "applicationInsights": ai,
                       "containerRegistry": None}
    after = int(os.environ.get("AZSIM_SMART_DETECTION_AFTER", "3") or 0)
    st["pending"].append({"what": "smart detection", "insights": ai, "due": len(st["calls"]) + after})
    if after <= 0:
        smart_detection_due(st)


def shared_log_analytics(st, loc):
    """The subscription's shared DefaultWorkspace-<sub>-<LOC> in DefaultResourceGroup-<LOC>: made once, reused."""
    code = loc[:3].upper()
    name = "DefaultResourceGroup-" + code
    g = find_group(st, name) or store_group(st, {"name": name, "location": loc, "id": group_id(name), "tags": None})
    rid = "{}/providers/Microsoft.OperationalInsights/workspaces/DefaultWorkspace-{}-{}".format(g["id"], core.CUR_SUB, code)
    if rid.lower() not in st["resources"]:
        add_resource(st, g, "Microsoft.OperationalInsights/workspaces", rid.rsplit("/", 1)[-1], loc, None,
                     {"customerId": new_guid(), "provisioningState": "Succeeded", "retentionInDays": 30,
                      "sku": {"name": "PerGB2018"}})
    return rid


def add_registry(st, g, name, loc, made_with=None):
    """A container registry (Premium/Basic alike) in group g; returns its id."""
    return add_resource(st, g, "Microsoft.ContainerRegistry/registries", name, loc, None, {
        "loginServer": "{}.azurecr.io".format(name.lower()), "creationDate": arm_time(), "adminUserEnabled": True,
        "provisioningState": "Succeeded"}, sku={"name": "Basic", "tier": "Basic"}, made_with=made_with)


def image_build(st, rg, ws_name):
    """Azure ML's first image build (v1 deploy, an environment build): it makes a container registry in the
    workspace's group and links it to the workspace (containerRegistry)."""
    w = next((w for w in st["workspaces"].values() if w["resource_group"].lower() == rg.lower()
              and w["name"].lower() == ws_name.lower()), None)
    if w is None:
        raise SystemExit("no workspace {} in {}".format(ws_name, rg))
    g = find_group(st, w["resource_group"])
    w.setdefault("dependents", {})["containerRegistry"] = add_registry(
        st, g, re.sub(r"[^a-z0-9]", "", w["name"].lower())[:8] + new_guid().replace("-", "")[:12], w["location"],
        made_with=w["id"])
    return w["dependents"]["containerRegistry"]


def smart_detection_due(st):
    """Azure's own additions whose time has come (the call count reached their due)."""
    now, keep = len(st["calls"]), []
    for item in st["pending"]:
        if item["what"] != "smart detection" or item["due"] > now:
            keep.append(item)
            continue
        found = locate(st, item["insights"])
        sub, rg, _ = parse_id(item["insights"])
        g = group_in(st, sub, rg)
        if found is None or g is None:
            continue  # deleted before Azure got to it
        ai = found[2]
        group_id = "{}/providers/microsoft.insights/actiongroups/{}".format(g["id"], ACTION_GROUP)
        if locate(st, group_id) is None:
            add_resource(st, g, "microsoft.insights/actiongroups", ACTION_GROUP, "Global", None, {
                "groupShortName": "SmartDetect", "enabled": True, "emailReceivers": [],
                "armRoleReceivers": [{"name": "Monitoring Contributor", "useCommonAlertSchema": True,
                                      "roleId": "749f88d5-cbae-40b8-bcfc-e573ddc772fa"},
                                     {"name": "Monitoring Reader", "useCommonAlertSchema": True,
                                      "roleId": "43d0d8ad-25c7-4714-9337-8ba259a9fe05"}]})
        add_resource(st, g, "microsoft.alertsmanagement/smartDetectorAlertRules",
                     "Failure Anomalies - " + ai["name"], "global", None, {
                         "description": "Failure Anomalies notifies you of an unusual rise in the rate of failed "
                                        "HTTP requests or dependency calls.",
                         "state": "Enabled", "severity": "Sev3", "frequency": "PT1M",
                         "detector": {"id": "FailureAnomaliesDetector"}, "scope": [ai["id"]],
                         "actionGroups": {"groupIds": [group_id]}})
    st["pending"] = keep


def delete_linked(st, w):
    """v2 `ml workspace delete --all-resources` (REFERENCE.md section 8): the storage account, key vault,
    insights with its log analytics, and container registry the workspace links to, whoever made them."""
    deps = w.get("dependents") or {}
    ai = deps.get("applicationInsights")
    found = locate(st, ai) if ai else None
    linked = [deps.get("storageAccount"), deps.get("keyVault"), ai, deps.get("containerRegistry")]
    if found is not None:
        linked.append((found[2].get("properties") or {}).get("WorkspaceResourceId"))
    for rid in linked:
        if rid:
            delete_by_id(st, rid)
