"""`az ml ...` of the ml extension ("v2"): workspaces, computes, datastores (from a YAML file)."""
import re

from .core import (AzError, F, RG, TENANT, WS, arm_error, arm_time, command, confirm, find_ws, group_id, parse_tags,
                   purge_workspace, refuse_soft_deleted, require_group, require_ws, soft_delete_workspace, ws_key)
from .ad import check_client_secret
from .arm import workspace_arm
from .dependents import delete_linked
from .ml_v1 import compute_id, make_ws, ws_id, ws_v1_json


def ws_v2_json(w):
    """azure-ai-ml's Workspace._to_dict (az-facts section 5): snake_case, full ARM ids, no workspace GUID."""
    v1 = ws_v1_json(w)
    props = workspace_arm(w)["properties"] if w.get("dependents") else {
        "storageAccount": v1["storageAccount"], "keyVault": v1["keyVault"],
        "applicationInsights": v1["applicationInsights"], "containerRegistry": None}
    out = {"application_insights": props["applicationInsights"], "description": w.get("description", ""),
           "discovery_url": v1["discoveryUrl"], "display_name": w.get("friendly_name") or w["name"],
           "enable_data_isolation": False, "hbi_workspace": False, "id": w["id"],
           "identity": {"principal_id": v1["identityPrincipalId"], "tenant_id": TENANT,
                        "type": "system_assigned"},
           "key_vault": props["keyVault"], "location": w["location"],
           "mlflow_tracking_uri": "azureml://{}.api.azureml.ms/mlflow/v1.0{}".format(w["location"], w["id"]),
           "name": w["name"], "public_network_access": "Enabled", "resource_group": w["resource_group"],
           "resourceGroup": w["resource_group"], "storage_account": props["storageAccount"],
           "tags": w.get("tags") or {}}
    if props["containerRegistry"]:  # omitted when there is none
        out["container_registry"] = props["containerRegistry"]
    return out


@command("ml workspace create", [F("--name -n", req=True), RG, F("--location -l"), F("--file -f"),
                                 F("--set", kind="multi"), F("--no-wait", kind="bool"), F("--description"),
                                 F("--display-name"), F("--tags", kind="multi")], dialect="v2")
def cmd_ws_create_v2(st, a, ctx):
    g = require_group(st, a["resource_group"])
    _, w = find_ws(st, g["name"], a["name"])
    if w is None:
        refuse_soft_deleted(st, g["name"], a["name"])
    if w is None:  # v2 create is create-or-update
        w = make_ws(st, g, a["name"], a["location"], "v2", parse_tags(a["tags"]))
        st["workspaces"][ws_key(g["name"], w["name"])] = w
    elif a["tags"] is not None:
        w["tags"] = parse_tags(a["tags"])
    if a["display_name"]:
        w["friendly_name"] = a["display_name"]
    if a["description"] is not None:
        w["description"] = a["description"]
    return None if a["no_wait"] else ws_v2_json(w)


@command("ml workspace show", [F("--name -n", req=True), RG], dialect="v2")
def cmd_ws_show_v2(st, a, ctx):
    _, w = require_ws(st, a["resource_group"], a["name"], 3)
    return ws_v2_json(w)


@command("ml workspace update", [F("--name -n", req=True), RG, F("--container-registry"), F("--description"),
                                 F("--display-name"), F("--tags", kind="multi"), F("--yes -y", kind="bool")],
         dialect="v2")
def cmd_ws_update_v2(st, a, ctx):
    """Links the workspace to another container registry (by its ARM id), whoever made it."""
    _, w = require_ws(st, a["resource_group"], a["name"], 3)
    if a["container_registry"] is not None:
        w.setdefault("dependents", {})["containerRegistry"] = a["container_registry"] or None
    if a["display_name"]:
        w["friendly_name"] = a["display_name"]
    if a["description"] is not None:
        w["description"] = a["description"]
    if a["tags"] is not None:
        w["tags"] = parse_tags(a["tags"])
    return ws_v2_json(w)


@command("ml workspace delete", [F("--name -n", req=True), RG, F("--all-resources", kind="bool"),
                                 F("--permanently-delete -p", kind="bool"), F("--no-wait", kind="bool"),
                                 F("--yes -y", kind="bool")], dialect="v2")
def cmd_ws_delete_v2(st, a, ctx):
    key, w = find_ws(st, a["resource_group"], a["name"])
    if w is None:  # it reads the workspace first: a soft-deleted one cannot be found (Azure/azure-cli#33756)
        raise AzError("(UserError) Unable to find workspace: {}".format(
            ws_id(group_id(a["resource_group"]), a["name"])), 3)
    if not confirm(a):
        return None
    if a["all_resources"]:  # first the storage, key vault, insights (+ log analytics), registry it links to
        delete_linked(st, w)
    if a["permanently_delete"]:
        purge_workspace(st, key)
    else:
        soft_delete_workspace(st, key)


def compute_v2_json(c):
    out = {"id": c["id"], "location": c["location"], "name": c["name"], "provisioning_state": "Succeeded",
           "resourceGroup": c["resource_group"], "resource_group": c["resource_group"], "size": c["vm_size"],
           "type": c["type"].lower(), "created_on": c.get("created")}  # the raw createdOn string
    if c["type"] == "AmlCompute":
        out.update({"idle_time_before_scale_down": c.get("idle_seconds", 120), "max_instances": c["max_nodes"],
                    "min_instances": c["min_nodes"], "tier": c.get("priority", "dedicated")})
    return out


def require_compute(st, a):
    wkey, w = require_ws(st, a["resource_group"], a["workspace_name"], 3)
    c = st["computes"].get("{}/{}".format(wkey, a["name"]))
    if c is None:
        raise arm_error("ResourceNotFound", "Compute '{}' not found in workspace '{}'."
                        .format(a["name"], w["name"]), 3)
    return c


@command("ml compute create",
         [F("--name -n", req=True), F("--type -t", req=True, choices=["AmlCompute", "ComputeInstance"]),
          F("--size"), F("--min-instances", kind="int"), F("--max-instances", kind="int"),
          F("--idle-time-before-scale-down -d", kind="int"), F("--tier", choices=["dedicated", "low_priority"]),
          F("--location -l"), F("--file -f"), F("--set", kind="multi"), F("--no-wait", kind="bool"), WS, RG],
         dialect="v2")
def cmd_compute_create_v2(st, a, ctx):
    wkey, w = require_ws(st, a["resource_group"], a["workspace_name"])
    ctype = "AmlCompute" if a["type"].lower() == "amlcompute" else "ComputeInstance"
    key = "{}/{}".format(wkey, a["name"])
    c = st["computes"].get(key) or {"name": a["name"], "workspace": w["name"], "resource_group": w["resource_group"],
                                    "type": ctype, "vm_size": "Standard_DS3_v2", "max_nodes": 4, "min_nodes": 0,
                                    "idle_seconds": 120, "priority": "dedicated", "location": w["location"],
                                    "id": compute_id(w, a["name"]), "created": arm_time("+00:00"), "tags": {}}
    if c["type"] != ctype:
        raise AzError("Compute '{}' already exists with a different type ({}).".format(a["name"], c["type"]))
    upd = {"vm_size": a["size"], "max_nodes": a["max_instances"], "min_nodes": a["min_instances"],
           "idle_seconds": a["idle_time_before_scale_down"], "priority": a["tier"]}
    c.update({k: v for k, v in upd.items() if v is not None})
    if ctype == "ComputeInstance":
        c["max_nodes"], c["min_nodes"] = 1, 1
    if c["max_nodes"] < 1 or c["min_nodes"] < 0 or c["min_nodes"] > c["max_nodes"]:
        raise AzError("Invalid scale settings: max_instances must be >= 1 and 0 <= min_instances <= max_instances.")
    st["computes"][key] = c
    return None if a["no_wait"] else compute_v2_json(c)


@command("ml compute show", [F("--name -n", req=True), WS, RG], dialect="v2")
def cmd_compute_show_v2(st, a, ctx):
    return compute_v2_json(require_compute(st, a))


@command("ml compute delete", [F("--name -n", req=True), WS, RG, F("--yes -y", kind="bool"),
                               F("--no-wait", kind="bool")], dialect="v2")
def cmd_compute_delete_v2(st, a, ctx):
    c = require_compute(st, a)
    if not confirm(a):
        return None
    del st["computes"]["{}/{}".format(ws_key(c["resource_group"], c["workspace"]), c["name"])]


YAML_BOOLS = {w: w.lower() in ("y", "yes", "true", "on") for w in
              "y Y yes Yes YES n N no No NO true True TRUE false False FALSE on On ON off Off OFF".split()}


def yaml_plain(v):
    """A plain (unquoted) scalar resolved as the ml extension's YAML loader may: the harsher union of
    YAML 1.1 (yes/on/off booleans, 0x1f, 012) and 1.2 (1e3 a float) -- never a string when it looks typed."""
    if v in ("", "~", "null", "Null", "NULL"):
        return None
    if v in YAML_BOOLS:
        return YAML_BOOLS[v]
    digits = v.replace("_", "")
    for pattern, base in ((r"[-+]?0x[0-9a-fA-F]+", 16), (r"[-+]?0o?[0-7]+", 8), (r"[-+]?[0-9]+", 10)):
        if re.fullmatch(pattern, digits):
            return int(digits.replace("0o", "0"), base) if base != 10 else int(digits)
    if re.fullmatch(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)", digits):
        return float(digits.replace("inf", "Infinity").replace("Inf", "Infinity").replace("INF", "Infinity")) \
            if "nan" not in digits.lower() else float("nan")
    return v


def parse_simple_yaml(text):
    """Tiny YAML subset: 'key: value', one level of 2-space nested mappings, comments, quotes.

    Quoted scalars are strings ('' stands for ' inside single quotes); plain ones are typed (yaml_plain)."""
    def scalar(v):
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] == "'":
            return v[1:-1].replace("''", "'")
        if len(v) >= 2 and v[0] == v[-1] == '"':
            return v[1:-1]
        v = re.sub(r"\s+#.*$", "", v)  # trailing comment on an unquoted value
        return yaml_plain(v)

    data, parent = {}, None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#") or line.strip() == "---":
            continue
        indent = len(line) - len(line.lstrip(" "))
        m = re.match(r"^([^:#]+?)\s*:(?:\s+(.*)|\s*)$", line.strip())
        if not m or indent not in (0, 2) or (indent == 2 and parent is None):
            raise AzError("Failed to parse YAML at line {}: {!r}".format(n, line))
        key, val = m.group(1).strip(), m.group(2)
        if indent == 0:
            if val is None or not val.strip() or val.strip().startswith("#"):
                data[key], parent = {}, key
            else:
                data[key], parent = scalar(val), None
        else:
            data[parent][key] = scalar(val or "")
    return data


DATASTORE_REQUIRED = ["name", "type", "account_name", "filesystem", "credentials.tenant_id",
                      "credentials.client_id", "credentials.client_secret"]


def get_dotted(d, path):
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def require_datastore(st, a):
    wkey, w = require_ws(st, a["resource_group"], a["workspace_name"], 3)
    d = st["datastores"].get("{}/{}".format(wkey, a["name"]))
    if d is None:
        raise arm_error("UserError", "Datastore '{}' was not found in workspace '{}'."
                        .format(a["name"], w["name"]), 3)
    return wkey, w, d


@command("ml datastore create", [F("--file -f", req=True), F("--name -n"), F("--set", kind="multi"), WS, RG],
         dialect="v2")
def cmd_datastore_create_v2(st, a, ctx):
    wkey, w = require_ws(st, a["resource_group"], a["workspace_name"])
    try:
        with open(a["file"], encoding="utf-8") as f:
            doc = parse_simple_yaml(f.read())
    except OSError as ex:
        raise AzError("Failed to load YAML file {}: [Errno {}] {}".format(a["file"], ex.errno, ex.strerror))
    if a["name"]:
        doc["name"] = a["name"]
    for item in a["set"] or []:
        path, sep, value = item.partition("=")
        if not sep:
            raise AzError("usage error: --set expects 'path=value', got '{}'".format(item))
        parts, d = path.split("."), doc
        for p in parts[:-1]:
            d = d.setdefault(p, {})
            if not isinstance(d, dict):
                raise AzError("Cannot set '{}': '{}' is not a mapping.".format(path, p))
        d[parts[-1]] = value
    missing = [k for k in DATASTORE_REQUIRED if get_dotted(doc, k) in (None, "")]
    if missing:
        raise AzError("Validation for AzureDataLakeGen2Schema failed:\n{}".format(
            "\n".join('  "{}": ["Missing data for required field."]'.format(k) for k in missing)))
    # The schema's fields are marshmallow Str: a YAML number or boolean is not coerced.
    not_text = [k for k in DATASTORE_REQUIRED if not isinstance(get_dotted(doc, k), str)]
    if not_text:
        raise AzError("Validation for AzureDataLakeGen2Schema failed:\n{}".format(
            "\n".join('  "{}": ["Not a valid string."]'.format(k) for k in not_text)))
    if doc["type"] != "azure_data_lake_gen2":
        raise AzError("Validation failed: type '{}' is not supported here; expected 'azure_data_lake_gen2'."
                      .format(doc["type"]))
    cred = doc["credentials"]
    check_client_secret(st, cred["client_id"], cred["client_secret"])
    d = {"name": str(doc["name"]), "type": "azure_data_lake_gen2", "account_name": str(doc["account_name"]),
         "filesystem": str(doc["filesystem"]), "client_id": str(cred["client_id"]),
         "client_secret": str(cred["client_secret"]), "tenant_id": str(cred["tenant_id"]), "api": "v2"}
    st["datastores"]["{}/{}".format(wkey, d["name"])] = d  # create-or-update
    return datastore_v2_json(w, d)


def datastore_v2_json(w, d):
    return {"account_name": d["account_name"],
            "credentials": {"authority_url": "https://login.microsoftonline.com", "client_id": d["client_id"],
                            "resource_url": "https://storage.azure.com/", "tenant_id": d["tenant_id"]},
            "description": None, "endpoint": "core.windows.net", "filesystem": d["filesystem"],
            "id": "{}/datastores/{}".format(w["id"], d["name"]), "name": d["name"], "protocol": "https",
            "resource_group": w["resource_group"], "serve_data_access_auth_identity": "none",
            "tags": {}, "type": "azure_data_lake_gen2"}


@command("ml datastore show", [F("--name -n", req=True), WS, RG], dialect="v2")
def cmd_datastore_show_v2(st, a, ctx):
    _, w, d = require_datastore(st, a)
    return datastore_v2_json(w, d)


@command("ml datastore delete", [F("--name -n", req=True), WS, RG], dialect="v2")
def cmd_datastore_delete_v2(st, a, ctx):
    wkey, w, d = require_datastore(st, a)
    del st["datastores"]["{}/{}".format(wkey, d["name"])]


@command("ml datastore list", [WS, RG, F("--include-archived", kind="bool")], dialect="v2")
def cmd_datastore_list_v2(st, a, ctx):
    wkey, w = require_ws(st, a["resource_group"], a["workspace_name"], 3)
    return [datastore_v2_json(w, d) for k, d in st["datastores"].items() if k.startswith(wkey + "/")]
