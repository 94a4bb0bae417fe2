"""`az storage account ...` and `az storage fs ...` (ADLS Gen2 filesystems and their files)."""
import base64
import hashlib
import os
import re

from .core import (AzError, F, arm_error, arm_time, command, confirm, drop_assignments_at, find_group, group_missing,
                   in_current_subscription, new_guid, norm_location, now_iso, parse_tags, require_account,
                   require_group, sdk_time, warn)


NO_CRED_WARNING = ("There are no credentials provided in your command and environment, we will query "
                   "for account key for your storage account.\nIt is recommended to provide "
                   "--connection-string, --account-key or --sas-token in your command as credentials.")


def account_json(acct):
    n = acct["name"]
    return {"id": acct["id"], "name": n, "location": acct["location"], "kind": acct.get("kind", "StorageV2"),
            "isHnsEnabled": acct["hns"], "creationTime": sdk_time(acct.get("created")),
            "primaryEndpoints": {"blob": "https://{}.blob.core.windows.net/".format(n),
                                 "dfs": "https://{}.dfs.core.windows.net/".format(n),
                                 "file": "https://{}.file.core.windows.net/".format(n),
                                 "queue": "https://{}.queue.core.windows.net/".format(n),
                                 "table": "https://{}.table.core.windows.net/".format(n),
                                 "web": "https://{}.z19.web.core.windows.net/".format(n)},
            "primaryLocation": acct["location"], "provisioningState": "Succeeded",
            "resourceGroup": acct["resource_group"], "minimumTlsVersion": "TLS1_0",
            "sku": {"name": acct.get("sku", "Standard_RAGRS"), "tier": "Standard"},
            "statusOfPrimary": "available", "tags": acct.get("tags") or {}, "type": "Microsoft.Storage/storageAccounts"}


ACCOUNT_NAME_RE = re.compile(r"^[a-z0-9]{3,24}$")


def invalid_account_msg(name):
    return ("{} is not a valid storage account name. Storage account name must be between 3 and 24 "
            "characters in length and use numbers and lower-case letters only.".format(name))


def taken_elsewhere(st, name, rg=None):
    taken = [t.strip() for t in os.environ.get("AZSIM_TAKEN_ACCOUNTS", "").split(",") if t.strip()]
    if name in taken:
        return True
    acct = st["storage_accounts"].get(name)
    # Names are global: one in another group, or in another subscription, is someone else's.
    return acct is not None and (rg is None or acct["resource_group"].lower() != rg.lower()
                                 or not in_current_subscription(acct["id"]))


@command("storage account create", [F("--name -n", req=True), F("--resource-group -g", req=True),
                                    F("--location -l"), F("--sku"), F("--kind"), F("--tags", kind="multi"),
                                    F("--enable-hierarchical-namespace --hns", kind="tri"),
                                    F("--access-tier"), F("--https-only", kind="tri"),
                                    F("--min-tls-version")])
def cmd_storage_account_create(st, a, ctx):
    name = a["name"]
    g = require_group(st, a["resource_group"])
    if not ACCOUNT_NAME_RE.match(name):
        raise arm_error("AccountNameInvalid", invalid_account_msg(name))
    if taken_elsewhere(st, name, g["name"]):
        raise arm_error("StorageAccountAlreadyTaken", "The storage account named {} is already taken.".format(name))
    acct = st["storage_accounts"].get(name)
    if acct is None:  # PUT: re-running on an existing account in the same group just returns it
        acct = {"name": name, "resource_group": g["name"], "hns": a["enable_hierarchical_namespace"] == "true",
                "location": norm_location(a["location"] or g["location"]), "kind": a["kind"] or "StorageV2",
                "sku": a["sku"] or "Standard_RAGRS", "created": arm_time(), "tags": parse_tags(a["tags"]) or {},
                "id": "{}/providers/Microsoft.Storage/storageAccounts/{}".format(g["id"], name)}
        st["storage_accounts"][name] = acct
    return account_json(acct)


@command("storage account show", [F("--name -n", req=True), F("--resource-group -g")])
def cmd_storage_account_show(st, a, ctx):
    acct = st["storage_accounts"].get(a["name"])
    if acct is not None and not in_current_subscription(acct["id"]):
        acct = None  # another subscription's
    rg = a["resource_group"]
    if rg is not None:
        if find_group(st, rg) is None:
            raise arm_error("ResourceGroupNotFound", "Resource group '{}' could not be found.".format(rg), 3)
        if acct is None or acct["resource_group"].lower() != rg.lower():
            raise arm_error("ResourceNotFound", "The Resource 'Microsoft.Storage/storageAccounts/{}' under "
                            "resource group '{}' was not found. For more details please go to "
                            "https://aka.ms/ARMResourceNotFoundFix".format(a["name"], rg), 3)
    elif acct is None:
        # Without --resource-group a validator looks the group up first: a parse-time error (REFERENCE.md 7).
        raise AzError("The storage account '{}' was not found in the current subscription.".format(a["name"]), 2)
    return account_json(acct)


@command("storage account check-name", [F("--name -n", req=True)])
def cmd_storage_account_check_name(st, a, ctx):
    name = a["name"]
    if not ACCOUNT_NAME_RE.match(name):
        return {"message": invalid_account_msg(name), "nameAvailable": False, "reason": "AccountNameInvalid"}
    if taken_elsewhere(st, name):
        return {"message": "The storage account named {} is already taken.".format(name),
                "nameAvailable": False, "reason": "AlreadyExists"}
    return {"message": None, "nameAvailable": True, "reason": None}


@command("storage account delete", [F("--name -n", req=True), F("--resource-group -g"), F("--yes -y", kind="bool")])
def cmd_storage_account_delete(st, a, ctx):
    if a["resource_group"] and find_group(st, a["resource_group"]) is None:
        raise group_missing(a["resource_group"])
    if not confirm(a):
        return None
    acct = st["storage_accounts"].get(a["name"])
    if acct is None or not in_current_subscription(acct["id"]) or (
            a["resource_group"] and acct["resource_group"].lower() != a["resource_group"].lower()):
        return None  # ARM answers a DELETE of a missing resource with 204: az prints nothing
    del st["storage_accounts"][a["name"]]
    drop_assignments_at(st, acct["id"])
    for coll in ("filesystems", "files"):
        for k in [k for k in st[coll] if k.startswith(a["name"] + "/")]:
            del st[coll][k]


def new_etag():
    return '"0x8D{}"'.format(os.urandom(6).hex().upper())


def storage_response(extra=None):
    out = {"client_request_id": new_guid(), "date": now_iso(), "etag": new_etag(),
           "last_modified": now_iso(), "request_id": new_guid(), "version": "2025-01-05"}
    out.update(extra or {})
    return out


STORAGE_AUTH = [F("--auth-mode", choices=["key", "login"]), F("--account-key"), F("--connection-string"),
                F("--sas-token")]


def storage_account_for(st, a, ctx):
    if not (a.get("auth_mode") or a.get("account_key") or a.get("connection_string") or a.get("sas_token")):
        warn(ctx, NO_CRED_WARNING)
    return require_account(st, a["account_name"])


@command("storage fs create", [F("--name -n", req=True), F("--account-name", req=True),
                               F("--public-access", choices=["file", "filesystem", "off"]),
                               F("--metadata", kind="multi")] + STORAGE_AUTH)
def cmd_fs_create(st, a, ctx):
    acct = storage_account_for(st, a, ctx)
    key = "{}/{}".format(acct["name"], a["name"])
    if key in st["filesystems"]:
        raise AzError("The specified filesystem already exists.\nRequestId:{}\nTime:{}\n"
                      "ErrorCode:ContainerAlreadyExists (The specified container already exists.)"
                      .format(new_guid(), now_iso()))
    st["filesystems"][key] = {"account": acct["name"], "name": a["name"]}
    return storage_response()


@command("storage fs exists", [F("--name -n", req=True), F("--account-name", req=True)] + STORAGE_AUTH)
def cmd_fs_exists(st, a, ctx):
    acct = storage_account_for(st, a, ctx)
    return {"exists": "{}/{}".format(acct["name"], a["name"]) in st["filesystems"]}


@command("storage fs list", [F("--account-name", req=True), F("--prefix"), F("--include-metadata", kind="tri"),
                             F("--num-results", kind="int"), F("--marker"), F("--show-next-marker", kind="bool")]
         + STORAGE_AUTH)
def cmd_fs_list(st, a, ctx):
    acct = storage_account_for(st, a, ctx)
    names = sorted(f["name"] for k, f in st["filesystems"].items() if k.startswith(acct["name"] + "/")
                   and f["name"].startswith(a["prefix"] or ""))
    out = [{"name": n, "metadata": None, "publicAccess": None, "hasImmutabilityPolicy": False, "hasLegalHold": False,
            "etag": new_etag(), "lastModified": now_iso(), "deleted": None, "version": None} for n in names]
    return out[:a["num_results"]] if a["num_results"] else out


@command("storage fs show", [F("--name -n", req=True), F("--account-name", req=True)] + STORAGE_AUTH)
def cmd_fs_show(st, a, ctx):
    acct = storage_account_for(st, a, ctx)
    if "{}/{}".format(acct["name"], a["name"]) not in st["filesystems"]:
        raise AzError("The specified filesystem does not exist.\nErrorCode:FilesystemNotFound", 3)
    return {"name": a["name"], "metadata": {}, "publicAccess": None, "hasImmutabilityPolicy": False,
            "hasLegalHold": False, "etag": new_etag(), "lastModified": now_iso()}


@command("storage fs delete", [F("--name -n", req=True), F("--account-name", req=True), F("--yes -y", kind="bool")]
         + STORAGE_AUTH)
def cmd_fs_delete(st, a, ctx):
    acct = storage_account_for(st, a, ctx)
    if not confirm(a):
        return None
    key = "{}/{}".format(acct["name"], a["name"])
    if key not in st["filesystems"]:
        raise AzError("The specified filesystem does not exist.\nRequestId:{}\nTime:{}\n"
                      "ErrorCode:FilesystemNotFound".format(new_guid(), now_iso()))
    del st["filesystems"][key]
    for k in [k for k in st["files"] if k.startswith(key + "/")]:
        del st["files"][k]


@command("storage fs file upload", [F("--file-system -f", req=True), F("--path -p", req=True),
                                    F("--source -s", req=True), F("--account-name", req=True),
                                    F("--overwrite", kind="tri"), F("--content-type"),
                                    F("--metadata", kind="multi")] + STORAGE_AUTH)
def cmd_fs_file_upload(st, a, ctx):
    acct = storage_account_for(st, a, ctx)
    fs_key = "{}/{}".format(acct["name"], a["file_system"])
    if fs_key not in st["filesystems"]:
        raise AzError("The specified filesystem does not exist.\nRequestId:{}\nTime:{}\n"
                      "ErrorCode:FilesystemNotFound".format(new_guid(), now_iso()))
    try:
        with open(a["source"], "rb") as f:
            data = f.read()
    except OSError as ex:
        raise AzError("[Errno {}] {}: '{}'".format(ex.errno, ex.strerror, a["source"]))
    key = "{}/{}".format(fs_key, a["path"].lstrip("/"))
    existing = st["files"].get(key)
    if existing and existing["size"] > 0 and a["overwrite"] != "true":
        raise AzError("The specified path already exists.\nRequestId:{}\nTime:{}\nErrorCode:PathAlreadyExists"
                      .format(new_guid(), now_iso()))
    st["files"][key] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    st.setdefault("file_data", {})[key] = base64.b64encode(data).decode("ascii")  # what a download gives back
    return storage_response({"content_length": len(data)})


FILE_FLAGS = [F("--file-system -f", req=True), F("--path -p", req=True), F("--account-name", req=True)]


@command("storage fs file exists", FILE_FLAGS + STORAGE_AUTH)
def cmd_fs_file_exists(st, a, ctx):
    acct = storage_account_for(st, a, ctx)
    return {"exists": "{}/{}/{}".format(acct["name"], a["file_system"], a["path"].lstrip("/")) in st["files"]}


@command("storage fs file delete", FILE_FLAGS + [F("--yes -y", kind="bool")] + STORAGE_AUTH)
def cmd_fs_file_delete(st, a, ctx):
    acct = storage_account_for(st, a, ctx)
    if not confirm(a):
        return None
    key = "{}/{}/{}".format(acct["name"], a["file_system"], a["path"].lstrip("/"))
    if key not in st["files"]:
        raise AzError("The specified path does not exist.\nRequestId:{}\nTime:{}\nErrorCode:PathNotFound"
                      .format(new_guid(), now_iso()))
    del st["files"][key]


def path_missing():
    # A 404 from the data plane: az exits 3 for any unhandled 404 (az-facts 0).
    return AzError("The specified path does not exist.\nRequestId:{}\nTime:{}\nErrorCode:PathNotFound"
                   .format(new_guid(), now_iso()), 3)


@command("storage fs file download", FILE_FLAGS + [F("--destination -d"), F("--overwrite", kind="tri")] + STORAGE_AUTH)
def cmd_fs_file_download(st, a, ctx):
    acct = storage_account_for(st, a, ctx)
    key = "{}/{}/{}".format(acct["name"], a["file_system"], a["path"].lstrip("/"))
    if key not in st["files"]:
        raise path_missing()
    name = a["path"].rstrip("/").split("/")[-1]
    dest = a["destination"] or "."
    # az 2.91 takes a destination without a directory part for a directory (az-facts 10): `-d out.csv`
    # writes out.csv/<name> and fails; `-d ./out.csv` works.
    target = os.path.join(dest, name) if os.path.isdir(dest) or not os.path.dirname(dest) else dest
    if os.path.exists(target) and a["overwrite"] == "false":
        raise AzError("The specified path already exists: {}".format(target))
    try:
        with open(target, "wb") as out:
            out.write(base64.b64decode(st.get("file_data", {}).get(key, "")))
    except OSError as ex:
        raise AzError("The command failed with an unexpected error. Here is the traceback:\n[Errno {}] {}: '{}'"
                      .format(ex.errno, ex.strerror, target))
    return None  # az prints nothing


@command("storage fs file list", [F("--file-system -f", req=True), F("--path"), F("--recursive", kind="tri"),
                                  F("--exclude-dir", kind="bool"), F("--num-results", kind="int"), F("--marker"),
                                  F("--show-next-marker", kind="bool"), F("--account-name", req=True)] + STORAGE_AUTH)
def cmd_fs_file_list(st, a, ctx):
    acct = storage_account_for(st, a, ctx)
    fs_key = "{}/{}".format(acct["name"], a["file_system"])
    if fs_key not in st["filesystems"]:
        raise AzError("The specified filesystem does not exist.\nErrorCode:FilesystemNotFound", 3)
    base = (a["path"] or "").strip("/")
    paths = {k[len(fs_key) + 1:]: f for k, f in st["files"].items() if k.startswith(fs_key + "/")}
    entries = {}
    for path, f in paths.items():
        if base and not path.startswith(base + "/"):
            continue
        parts = path[len(base) + 1 if base else 0:].split("/")
        depth = len(parts) if a["recursive"] != "false" else 1
        for n in range(1, min(depth, len(parts)) + 1):
            name = "/".join(([base] if base else []) + parts[:n])
            entries[name] = None if n < len(parts) else f
    if base and not entries:
        raise path_missing()
    out = [{"contentLength": f["size"] if f else 0, "creationTime": now_iso(), "encryptionScope": None,
            "etag": new_etag(), "expiryTime": None, "group": "$superuser", "isDirectory": f is None,
            "lastModified": now_iso(), "name": name, "owner": "$superuser", "permissions": "rw-r-----"}
           for name, f in sorted(entries.items()) if not (a["exclude_dir"] and f is None)]
    return out[:a["num_results"]] if a["num_results"] else out
