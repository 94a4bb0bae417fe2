"""Every ARM resource the simulator holds, found by id in any subscription (an id names its own), in the
shapes `az resource show` and `az resource list` print (az-facts sections 1, 2, 4), and deleted by id.

The book's resources keep their own collections (groups, storage_accounts, workspaces, computes, datastores);
everything else (a workspace's key vault, insights, log analytics, Azure's smart detection) is a generic
record in st["resources"], keyed by its lowercased id.
"""
from .core import SUB, TENANT, arm_time, drop_assignments_at, flip_guid, sdk_time, soft_delete_workspace

WORKSPACES = "Microsoft.MachineLearningServices/workspaces"


def add_resource(st, g, rtype, name, location, tags=None, properties=None, kind=None, sku=None, made_with=None):
    """A generic resource in group g; returns its id. made_with: the workspace id that made it (sim only)."""
    rid = "{}/providers/{}/{}".format(g["id"], rtype, name)
    st["resources"][rid.lower()] = {"id": rid, "name": name, "type": rtype, "location": location,
                                    "resource_group": g["name"], "tags": tags, "properties": properties or {},
                                    "kind": kind, "sku": sku, "created": arm_time(), "made_with": made_with}
    return rid


def datastore_id(st, key):
    wkey = key.rsplit("/", 1)[0]
    w = st["workspaces"].get(wkey)
    return None if w is None else "{}/datastores/{}".format(w["id"], st["datastores"][key]["name"])


def records(st):
    """(collection, key, record, id) of every resource, groups included, in every subscription."""
    for key, g in st["groups"].items():
        yield "groups", key, g, g["id"]
    for coll in ("storage_accounts", "workspaces", "computes"):
        for key, r in st[coll].items():
            yield coll, key, r, r["id"]
    for key in st["datastores"]:
        rid = datastore_id(st, key)
        if rid:
            yield "datastores", key, st["datastores"][key], rid
    for key, r in st["resources"].items():
        yield "resources", key, r, r["id"]


def locate(st, resource_id):
    """(collection, key, record) of the resource with that id (ids compare case-insensitively), else None."""
    wanted = resource_id.rstrip("/").lower()
    for coll, key, rec, rid in records(st):
        if rid.lower() == wanted:
            return coll, key, rec
    return None


def delete_by_id(st, resource_id):
    """Delete what the id names (a workspace is soft-deleted, as ARM's plain DELETE does); False if missing."""
    found = locate(st, resource_id)
    if found is None or found[0] == "groups":
        return False
    coll, key, rec = found
    if coll == "workspaces":
        soft_delete_workspace(st, key)
        return True
    del st[coll][key]
    if coll == "storage_accounts":
        for sub in ("filesystems", "files"):
            for k in [k for k in st[sub] if k.startswith(key + "/")]:
                del st[sub][k]
    if coll != "datastores":
        drop_assignments_at(st, rec["id"])
    return True


def generic(rid, name, rtype, location, tags, properties, kind=None, sku=None, identity=None, group=None):
    """GenericResource as az prints it: unset attributes print as null (az-facts section 0)."""
    out = {"id": rid, "name": name, "type": rtype, "location": location, "extendedLocation": None, "tags": tags,
           "plan": None, "properties": properties, "kind": kind, "managedBy": None, "sku": sku, "identity": identity}
    if group is not None:
        out["resourceGroup"] = group  # az's global transform; not for a bare group id
    return out


def group_arm(g):
    state = "Deleting" if g.get("deleting") is not None else "Succeeded"
    return generic(g["id"], g["name"], "Microsoft.Resources/resourceGroups", g["location"], g.get("tags"),
                   {"provisioningState": state})


def account_arm(a):
    n = a["name"]
    props = {"creationTime": a.get("created"), "provisioningState": "Succeeded", "minimumTlsVersion": "TLS1_0",
             "primaryEndpoints": {k: "https://{}.{}.core.windows.net/".format(n, k) for k in ("blob", "dfs", "file",
                                                                                              "queue", "table")},
             "primaryLocation": a["location"], "statusOfPrimary": "available", "supportsHttpsTrafficOnly": True}
    if a["hns"]:
        props["isHnsEnabled"] = True  # absent, not false, on an account without it (az-facts section 2)
    return generic(a["id"], n, "Microsoft.Storage/storageAccounts", a["location"], a.get("tags") or {}, props,
                   a.get("kind", "StorageV2"), {"name": a.get("sku", "Standard_RAGRS"), "tier": "Standard"},
                   group=a["resource_group"])


def dependent_ids(w):
    return dict({"storageAccount": None, "keyVault": None, "applicationInsights": None, "containerRegistry": None},
                **(w.get("dependents") or {}))


def workspace_arm(w):
    deps = dependent_ids(w)
    props = {"workspaceId": w["workspace_id"], "friendlyName": w.get("friendly_name") or w["name"],
             "description": w.get("description", ""), "provisioningState": "Succeeded",
             "storageAccount": deps["storageAccount"],
             "keyVault": deps["keyVault"] and deps["keyVault"].replace("/Microsoft.KeyVault/", "/Microsoft.Keyvault/"),
             "applicationInsights": deps["applicationInsights"] and deps["applicationInsights"].replace(
                 "/Microsoft.Insights/", "/microsoft.insights/"),
             "containerRegistry": deps["containerRegistry"],
             "discoveryUrl": "https://{}.api.azureml.ms/discovery".format(w["location"]), "hbiWorkspace": False,
             "publicNetworkAccess": "Enabled", "storageHnsEnabled": False, "tenantId": TENANT, "v1LegacyMode": False}
    out = generic(w["id"], w["name"], WORKSPACES, w["location"], w.get("tags") or {}, props, "Default",
                  {"name": "Basic", "tier": "Basic"},
                  {"principalId": flip_guid(w["workspace_id"]), "tenantId": TENANT, "type": "SystemAssigned",
                   "userAssignedIdentities": None}, w["resource_group"])
    out["systemData"] = {"createdAt": w.get("created"), "createdBy": "sim-user@example.com", "createdByType": "User"}
    return out


def compute_arm(c):
    created = c.get("created")
    props = {"computeType": c["type"], "computeLocation": c["location"], "createdOn": created,
             "modifiedOn": created, "provisioningState": c.get("provisioning_state", "Succeeded"), "provisioningErrors": None,
             "isAttachedCompute": False, "disableLocalAuth": True, "description": None, "resourceId": None,
             "properties": {"vmSize": c["vm_size"], "vmPriority": c.get("priority", "dedicated").capitalize(),
                            "osType": "Linux", "scaleSettings": {
                                "maxNodeCount": c["max_nodes"], "minNodeCount": c["min_nodes"],
                                "nodeIdleTimeBeforeScaleDown": "PT{}S".format(c.get("idle_seconds", 120))},
                            "allocationState": "Steady", "currentNodeCount": 0, "targetNodeCount": 0}}
    return generic(c["id"], c["name"], WORKSPACES + "/computes", c["location"], c.get("tags") or {}, props,
                   sku=None, identity=None, group=c["resource_group"])


def datastore_arm(st, key, d):
    rid = datastore_id(st, key)
    props = {"datastoreType": "AzureDataLakeGen2", "accountName": d["account_name"], "filesystem": d["filesystem"],
             "endpoint": "core.windows.net", "protocol": "https", "isDefault": False, "description": None,
             "tags": {}, "properties": None, "serviceDataAccessAuthIdentity": "None",
             "credentials": {"credentialsType": "ServicePrincipal", "clientId": d["client_id"],
                             "tenantId": d["tenant_id"], "authorityUrl": "https://login.microsoftonline.com",
                             "resourceUrl": "https://storage.azure.com/",
                             "secrets": {"secretsType": "ServicePrincipal"}}}  # never the secret in a GET
    return generic(rid, d["name"], WORKSPACES + "/datastores", None, None, props,
                   group=rid.split("/")[4])


def arm_json(st, coll, key, rec):
    if coll == "groups":
        return group_arm(rec)
    if coll == "storage_accounts":
        return account_arm(rec)
    if coll == "workspaces":
        return workspace_arm(rec)
    if coll == "computes":
        return compute_arm(rec)
    if coll == "datastores":
        return datastore_arm(st, key, rec)
    return generic(rec["id"], rec["name"], rec["type"], rec["location"], rec.get("tags"), rec.get("properties"),
                   rec.get("kind"), rec.get("sku"), group=rec["resource_group"])


def listed(st, coll, key, rec):
    """An item of `az resource list` (GenericResourceExpanded): no properties, with its times."""
    out = dict(arm_json(st, coll, key, rec), properties=None, provisioningState="Succeeded")
    created = sdk_time(rec.get("created"))
    out["createdTime"], out["changedTime"] = created, created
    return out


def subscription_of(rec_id):
    return rec_id.split("/")[2].lower() if rec_id.lower().startswith("/subscriptions/") else SUB
