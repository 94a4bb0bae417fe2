#!/usr/bin/env -S python3 -I -S
"""az-sim: an OFFLINE stand-in for the Azure CLI (`az`) 2.91, for testing azwrap.

It never uses the network and never touches ~/.azure.  All state lives in
$AZSIM_HOME/state.json (default ./.az-sim/).  Run `az-sim --help` for details.
Standard library only.
"""
import copy
import datetime
try:
    import fcntl
except ImportError:  # Windows: `azwrap demo` there locks with msvcrt
    fcntl = None
import hashlib
import json
import os
import re
import signal
import string
import sys
import time

SUB = "00000000-0000-0000-0000-00000000c0de"
SUB_NAME = "Azure Sim Subscription"
# A second subscription the simulated user can switch to (`az account set`); it starts empty.
SUBSCRIPTIONS = {SUB: SUB_NAME, "11111111-2222-3333-4444-555555555555": "Azure Sim Other Subscription"}
CUR_SUB = SUB  # the subscription this call acts in: --subscription, else the signed-in one
TENANT = "00000000-0000-0000-0000-000000007e1a"
USER = {"name": "sim-user@example.com", "type": "user"}
CLI_VERSION = "2.91.0"
KNOWN_EXTENSIONS = {"azure-cli-ml": "1.41.0", "ml": "2.30.0"}
ML_DIALECT = {"azure-cli-ml": "v1", "ml": "v2"}
OUTPUT_FORMATS = ["json", "jsonc", "none", "table", "tsv", "yaml", "yamlc"]
# Built-in role definition GUIDs (the real ones, so ids look right).
ROLES = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "Role Based Access Control Administrator": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
}
# Roles whose holder may create role assignments (Microsoft.Authorization/roleAssignments/write).
ASSIGNER_ROLES = ("Owner", "User Access Administrator", "Role Based Access Control Administrator")
USER_OBJECT_ID = "00000000-0000-0000-0000-0000000005e1"
# A part of `az account list-locations` (name, displayName, regionalDisplayName), real regions.
LOCATIONS = [("centralus", "Central US", "(US) Central US"), ("eastus", "East US", "(US) East US"),
             ("eastus2", "East US 2", "(US) East US 2"), ("westus", "West US", "(US) West US"),
             ("westus2", "West US 2", "(US) West US 2"), ("northcentralus", "North Central US", "(US) North Central US"),
             ("southcentralus", "South Central US", "(US) South Central US"),
             ("northeurope", "North Europe", "(Europe) North Europe"), ("westeurope", "West Europe", "(Europe) West Europe"),
             ("uksouth", "UK South", "(Europe) UK South"), ("francecentral", "France Central", "(Europe) France Central"),
             ("germanywestcentral", "Germany West Central", "(Europe) Germany West Central"),
             ("swedencentral", "Sweden Central", "(Europe) Sweden Central"),
             ("southeastasia", "Southeast Asia", "(Asia Pacific) Southeast Asia"),
             ("eastasia", "East Asia", "(Asia Pacific) East Asia"), ("japaneast", "Japan East", "(Asia Pacific) Japan East"),
             ("australiaeast", "Australia East", "(Asia Pacific) Australia East"),
             ("centralindia", "Central India", "(Asia Pacific) Central India"),
             ("brazilsouth", "Brazil South", "(South America) Brazil South"),
             ("canadacentral", "Canada Central", "(Canada) Canada Central")]
EXPIRED_SIGN_IN = ("AADSTS700082: The refresh token has expired due to inactivity. The token was issued on "
                   "2026-08-01T09:00:00.0000000Z and was inactive for 90.00:00:00.")
EXPIRED_SIGN_IN_EXTRA = ["Interactive authentication is needed. Please run:",
                         "az login --scope https://management.core.windows.net//.default"]
EXTENSION_REFERENCE = ("If the command is from an extension, please make sure the corresponding "
                       "extension is installed. To learn more about extensions, please visit "
                       "'https://docs.microsoft.com/cli/azure/azure-cli-extensions-overview'")
SP_WARNING = ("The output includes credentials that you must protect. Be sure that you do not "
              "include these credentials in your code or check the credentials into your source "
              "control. For more information, see https://aka.ms/azadsp-cli")
NO_CRED_WARNING = ("There are no credentials provided in your command and environment, we will query "
                   "for account key for your storage account.\nIt is recommended to provide "
                   "--connection-string, --account-key or --sas-token in your command as credentials.")

HELP = """az-sim - offline simulator of the Azure CLI 2.91 (stdlib only, no network, never ~/.azure)

Usage:  az-sim <az arguments...>      behave like `az <az arguments...>`
        az-sim --help | --summary | --reset     (meta, not az; not recorded in `calls`)

State:  $AZSIM_HOME/state.json (default ./.az-sim/), dir 0700, file 0600, atomic writes,
        exclusive flock on $AZSIM_HOME/lock around each command. Fresh state: logged out,
        no extensions. Every az invocation's raw argv (before @file expansion) is appended to
        state["calls"], including failing ones; state["timeline"] has each call's argv, start
        (when the process began, before its latency) and end (when its state was saved), epoch seconds.

Exit codes: 0 ok, 1 error, 2 parse error (unknown flag, missing required flag, bad enum value,
        unknown command; also `storage account show` of a missing account without
        --resource-group), 3 not found (show commands, delete of missing things).

Output: JSON (indent 2, sorted keys). Format = --output/-o flag, else env AZURE_CORE_OUTPUT,
        else `az config set core.output=...` (default json). Formats: json jsonc table tsv yaml
        yamlc none. --query supports a small JMESPath subset: a.b, a[0], a[].b.
Global flags: --output/-o --query --only-show-errors (hides WARNINGs) --verbose --debug (ignored)
        --subscription (must be the sim subscription id or name).
@file:  like azure-cli-core, `@path`, `--x=@path`, `key=@path` are replaced by the file's
        content with trailing newlines stripped; an unreadable path is left as is (as az does).

Extensions: azure-cli-ml 1.41.0 (ml "v1" commands) or ml 2.30.0 (ml "v2"), not both.
        AZURE_EXTENSION_USE_DYNAMIC_INSTALL (or config extension.use_dynamic_install):
        no -> "'ml' is misspelled or not recognized by the system." exit 2;
        yes_prompt (default, no tty here) -> exit 2 asking to install;
        yes_without_prompt -> installs `ml` and runs the command.

Commands: login logout | account show/set/list | version | config set K=V
        extension add/show/list/remove | group create/show/exists/delete
        storage account create/show/check-name/delete | storage fs create/exists/show/delete
        storage fs file upload/exists/delete | ad sp create-for-rbac/show/delete
        resource show/list/delete | rest --method get|delete (workspaces, forceToPurge)
        ad app delete | ad app credential reset (--append, --years | --end-date)/list
        role assignment create/list/delete | account get-access-token/list-locations
        extension list-available
        (group create refuses a location that `account list-locations` does not list)
        v1: ml workspace create/show/delete, ml computetarget create amlcompute, ml computetarget
            show/delete, ml datastore attach-adls-gen2/show/detach/list (missing: exit 1, v1's SDK)
        v2: ml workspace create/show/delete, ml compute create/show/delete, ml datastore
            create/show/delete/list
        `az-sim <command> --help` lists a command's flags.

Fault knobs (environment variables):
  AZSIM_HOME             state directory (default ./.az-sim)
  AZSIM_PURGE_LAG=K      a purged workspace still holds its name for K more create attempts (default 1)
  AZSIM_DELETE_POLLS=K   `group delete --no-wait`: the group is gone after K more looks (default 2)
  AZSIM_TAKEN_ACCOUNTS   comma-separated storage account names taken by someone else
  AZSIM_FAIL_MATCH       text; the Nth call whose space-joined raw argv contains it fails,
                         changing nothing (matches are counted in state counters, across processes)
  AZSIM_FAIL_NTH         N (default 1)
  AZSIM_FAIL_EXIT        exit code of the injected failure (default 1)
  AZSIM_FAIL_STDERR      stderr text of the injected failure (default "ERROR: injected failure")
  AZSIM_GRAPH_DELAY=K    directory replication: the first K `role assignment create` attempts for
                         each (principal, scope) fail (exit 1), alternately with Graph's "Cannot find
                         user or service principal in graph database" and ARM's "(PrincipalNotFound)
                         Principal ... does not exist in the directory ..."
  AZSIM_TRACE            file; each call appends a JSON line {"pid", "argv", "sleep"} as it starts,
                         before its latency sleep (lets a test see that a call is under way)
  AZSIM_GARBAGE_MATCH    text; a call whose raw argv contains it performs its action but prints
                         non-JSON garbage on stdout (exit 0)
  AZSIM_LATENCY          seconds (float) to sleep for every command
  AZSIM_LATENCY_PROFILE  JSON object {"ml workspace create": 5, ...}; longest matching command
                         prefix wins and replaces AZSIM_LATENCY
  AZSIM_CLOCK_SCALE      multiplier for all sleeps (default 1)
  AZSIM_RESET_FAIL_AFTER_REMOVE  `ad app credential reset` (without --append) removes the old
                         passwords, then fails (exit 1) before adding the new one: it is not atomic
  AZSIM_TOKEN_EXPIRED=1  the cached sign-in has expired: `account show` still succeeds (it reads the
                         cache), every command that needs a token fails with AADSTS700082 (exit 1),
                         until an `az login` made while it is set
  AZSIM_USER_ROLES       comma-separated roles the signed-in user holds on the subscription (default
                         Owner; empty: none); `role assignment create` without Owner, User Access
                         Administrator or Role Based Access Control Administrator fails AuthorizationFailed
  AZSIM_RETIRED_EXTENSIONS  comma-separated extensions the index no longer offers: absent from
                         `extension list-available`, and `extension add` finds no match
Principals keep password credentials (endDateTime: 1 year, or --years/--end-date); a datastore
attach or create with a secret its principal does not accept now fails (AADSTS7000215).
  Sleeps happen before the lock is taken and before anything changes; SIGTERM/SIGINT exit
  promptly (143/130) without writing state.
"""


# --------------------------------------------------------------------------- errors / signals
class AzError(Exception):
    """An error az would report: message to stderr as 'ERROR: ...', with an exit code."""

    def __init__(self, msg, code=1, extra=()):
        super().__init__(msg)
        self.msg, self.code, self.extra = msg, code, list(extra)


def arm_error(code, message, exit_code=1):
    """ARM errors print as '(Code) Message\\nCode: ...\\nMessage: ...' in az 2.9x."""
    return AzError("({}) {}\nCode: {}\nMessage: {}".format(code, message, code, message), exit_code)


_critical = False      # True while state is being written: defer signals until it is done
_pending_signal = None


def _on_signal(signum, _frame):
    global _pending_signal
    code = 130 if signum == signal.SIGINT else 143
    if _critical:
        _pending_signal = code
    else:
        os._exit(code)  # nothing written yet: the lock (if any) is released by the kernel


# --------------------------------------------------------------------------- state
def home_dir():
    return os.path.abspath(os.environ.get("AZSIM_HOME") or ".az-sim")


def fresh_state():
    return {"logged_in": False, "config": {"core.output": "json"}, "extensions": {},
            "groups": {}, "workspaces": {}, "computes": {}, "storage_accounts": {},
            "filesystems": {}, "files": {}, "service_principals": {}, "role_assignments": [],
            "datastores": {}, "deleted_workspaces": {}, "calls": [], "timeline": [], "counters": {},
            "subscription": SUB}


class StateLock:
    """Exclusive flock on $AZSIM_HOME/lock held across a whole read-modify-write."""

    def __enter__(self):
        d = home_dir()
        os.makedirs(d, mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)
        self.fd = os.open(os.path.join(d, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        else:
            import msvcrt
            while True:  # LK_LOCK gives up after 10 s; another simulated call holds it
                try:
                    msvcrt.locking(self.fd, msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    continue
        return self

    def __exit__(self, *exc):
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        else:
            import msvcrt
            os.lseek(self.fd, 0, os.SEEK_SET)
            msvcrt.locking(self.fd, msvcrt.LK_UNLCK, 1)
        os.close(self.fd)


def load_state():
    path = os.path.join(home_dir(), "state.json")
    try:
        with open(path, encoding="utf-8") as f:
            st = json.load(f)
    except FileNotFoundError:
        return fresh_state()
    base = fresh_state()
    base.update(st)
    return base


_timeline_entry = None  # this call's entry in state["timeline"]: its end is set when its state is saved


def save_state(st):
    global _critical
    if _timeline_entry is not None:
        _timeline_entry["end"] = time.time()
    d = home_dir()
    tmp = os.path.join(d, "state.json.tmp.{}".format(os.getpid()))
    _critical = True
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(st, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(d, "state.json"))
    finally:
        _critical = False
    if _pending_signal is not None:
        os._exit(_pending_signal)


# --------------------------------------------------------------------------- @file expansion
def expand_file_args(argv):
    """Mirror azure-cli-core _expand_file_prefixed_files: '@path', 'x=@path' -> file content.

    Content has trailing os.linesep stripped (content.rstrip(os.linesep)); an unreadable file
    (IOError) leaves the argument unchanged ("assume not a file"); undecodable bytes -> base64.
    """
    def load(path):
        if path == "-":
            return sys.stdin.read().rstrip(os.linesep)
        path = os.path.expanduser(path)
        with open(path, "rb") as f:
            raw = f.read()
        for enc in ("utf-8-sig", "utf-8", "utf-16", "utf-16le", "utf-16be"):
            try:
                return raw.decode(enc).rstrip(os.linesep)
            except UnicodeError:
                pass
        import base64
        return base64.b64encode(raw).decode()

    def maybe(arg):
        if arg.startswith("@") and len(arg) > 1:
            try:
                return load(arg[1:])
            except OSError:
                return arg
        return arg

    out = []
    for arg in argv:
        parts = arg.split("=", 1)
        out.append(parts[0] + "=" + maybe(parts[1]) if len(parts) == 2 else maybe(arg))
    return out


# --------------------------------------------------------------------------- command table
class F:
    """A flag: names (first is canonical), kind str|int|bool|tri|multi, enum choices."""

    def __init__(self, names, req=False, kind="str", choices=None, default=None):
        self.names = names.split()
        self.dest = self.names[0].lstrip("-").replace("-", "_")
        self.req, self.kind, self.choices, self.default = req, kind, choices, default
        if kind == "tri":
            self.choices = ["false", "true"]

    @property
    def label(self):
        return "/".join(self.names)


GLOBAL_FLAGS = [F("--output -o", choices=OUTPUT_FORMATS), F("--query"), F("--only-show-errors", kind="bool"),
                F("--verbose", kind="bool"), F("--debug", kind="bool")]
RG, WS = F("--resource-group -g", req=True), F("--workspace-name -w", req=True)

COMMANDS = {}  # (dialect or None, "path words") -> (flags, handler, options)


# Commands that do not take the global --subscription (REFERENCE.md section 7): az ad, login,
# version, extension, config; account show/set take their own --subscription.
NO_SUBSCRIPTION = ("ad ", "login", "logout", "version", "extension ", "config ")


def command(path, flags, dialect=None, positional=None, no_login=False, no_subscription=False):
    def deco(fn):
        takes_subscription = not (no_subscription or path.startswith(NO_SUBSCRIPTION))
        COMMANDS[(dialect, path)] = {"flags": flags + ([F("--subscription")] if takes_subscription else []),
                                     "handler": fn, "positional": positional,
                                     "no_login": no_login, "path": path}
        return fn
    return deco


# --------------------------------------------------------------------------- helpers
def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def norm_location(loc):
    return loc.replace(" ", "").lower()


def group_id(rg):
    return "/subscriptions/{}/resourceGroups/{}".format(CUR_SUB, rg)


def group_key(st, name):
    """The key of group `name` in the current subscription (groups of other subscriptions are invisible)."""
    for key, g in st["groups"].items():
        if g["name"].lower() == name.lower() and g.get("subscription", SUB) == CUR_SUB:
            return key
    return None


def find_group(st, name):
    key = group_key(st, name)
    return None if key is None else st["groups"][key]


def require_group(st, name):
    g = find_group(st, name)
    if g is None:
        raise arm_error("ResourceGroupNotFound", "Resource group '{}' could not be found.".format(name))
    return g


def ws_key(rg, ws):
    return "{}/{}".format(rg, ws)


def in_current_subscription(resource_id):
    return resource_id.lower().startswith("/subscriptions/{}/".format(CUR_SUB))


def find_ws(st, rg, name, coll="workspaces"):
    for key, w in st[coll].items():
        if (w["resource_group"].lower() == rg.lower() and w["name"].lower() == name.lower()
                and in_current_subscription(w["id"])):
            return key, w
    return None, None


def v1_not_found(what):
    """The v1 extension wraps the v1 SDK, whose not-found is an ordinary error: exit 1 (REFERENCE.md 7)."""
    return AzError("{} not found.".format(what), 1)


SOFT_DELETED = ("(BadRequest) Soft-deleted workspace exists. Please purge or recover it. "
                "https://aka.ms/wsoftdelete\nCode: BadRequest\nMessage: Soft-deleted workspace exists. "
                "Please purge or recover it. https://aka.ms/wsoftdelete")


def refuse_soft_deleted(st, rg, name):
    """Creating a workspace whose name a soft-deleted one holds fails until it is purged; a purge
    answered already may still hold the name for AZSIM_PURGE_LAG more create attempts (default 1)."""
    key, w = find_ws(st, rg, name, "deleted_workspaces")
    if w is None:
        return
    if w.get("purging"):
        # Counted in counters, which a failing call keeps (it rolls back everything else).
        lag_key = "purge_lag:" + key.lower()
        if st["counters"].get(lag_key, 0) <= 0:
            del st["deleted_workspaces"][key]
            return
        st["counters"][lag_key] -= 1
    raise AzError(SOFT_DELETED)


def drop_assignments_at(st, scope):
    """Role assignments are extension resources: they go with the resource they are scoped to."""
    prefix = scope.lower()
    st["role_assignments"] = [r for r in st["role_assignments"]
                              if not (r["scope"].lower() == prefix or r["scope"].lower().startswith(prefix + "/"))]


def soft_delete_workspace(st, key):
    w = st["workspaces"].pop(key)
    drop_assignments_at(st, w["id"])
    for coll in ("computes", "datastores"):
        for k in [k for k in st[coll] if k.lower().startswith(key.lower() + "/")]:
            del st[coll][k]
    st["deleted_workspaces"][key] = dict(w, deleted_at=now_iso())


def purge_workspace(st, key):
    """forceToPurge: the workspace is gone, but its name may stay blocked a little longer."""
    if key in st["workspaces"]:
        soft_delete_workspace(st, key)
    st["deleted_workspaces"][key]["purging"] = True
    st["counters"]["purge_lag:" + key.lower()] = int(os.environ.get("AZSIM_PURGE_LAG", "1") or 0)


def workspace_missing(rg, name, code):
    return arm_error("ResourceNotFound", "The Resource 'Microsoft.MachineLearningServices/workspaces/{}' "
                     "under resource group '{}' was not found. For more details please go to "
                     "https://aka.ms/ARMResourceNotFoundFix".format(name, rg), code)


def require_ws(st, rg, name, code=1):
    require_group(st, rg)
    key, w = find_ws(st, rg, name)
    if w is None:
        raise workspace_missing(rg, name, code)
    return key, w


def require_account(st, name, code=1):
    acct = st["storage_accounts"].get(name)
    if acct is None:
        raise AzError("Storage account '{}' not found.".format(name), code)
    return acct


# uuid, secrets and difflib cost more to import than a simulated call takes: one process per call,
# hundreds per test run. Random GUIDs and choices from os.urandom are plenty for a simulator.
def new_guid():
    h = bytearray(os.urandom(16))
    h[6] = (h[6] & 0x0F) | 0x40  # version 4
    h[8] = (h[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = h.hex()
    return "{}-{}-{}-{}-{}".format(x[:8], x[8:12], x[12:16], x[16:20], x[20:])


def flip_guid(guid):
    """Another GUID derived from guid (its last bit flipped), stable across calls."""
    x = guid.replace("-", "")
    x = "{:032x}".format(int(x, 16) ^ 1)
    return "{}-{}-{}-{}-{}".format(x[:8], x[8:12], x[12:16], x[16:20], x[20:])


def _pick(alphabet):
    return alphabet[int.from_bytes(os.urandom(2), "big") % len(alphabet)]


def _close_matches(word, choices, n, cutoff):
    import difflib  # only on the error path

    return difflib.get_close_matches(word, choices, n=n, cutoff=cutoff)


def new_etag():
    return '"0x8D{}"'.format(os.urandom(6).hex().upper())


def storage_response(extra=None):
    out = {"client_request_id": new_guid(), "date": now_iso(), "etag": new_etag(),
           "last_modified": now_iso(), "request_id": new_guid(), "version": "2025-01-05"}
    out.update(extra or {})
    return out


def warn(ctx, text):
    if not ctx["only_show_errors"]:
        sys.stderr.write("WARNING: {}\n".format(text))


def ensure_list(v):
    return v if isinstance(v, list) else ([] if v is None else [v])


def parse_tags(values):
    tags = {}
    for item in ensure_list(values):
        k, _, v = item.partition("=")
        tags[k] = v
    return tags or None


# --------------------------------------------------------------------------- core commands
@command("login", [F("--use-device-code", kind="bool"), F("--tenant -t"), F("--service-principal", kind="bool"),
                   F("--username -u"), F("--password -p"), F("--identity", kind="bool"),
                   F("--allow-no-subscriptions", kind="bool"), F("--scope")], no_login=True)
def cmd_login(st, a, ctx):
    st["logged_in"] = True
    if os.environ.get("AZSIM_TOKEN_EXPIRED") == "1":
        st["fresh_sign_in"] = True  # signed in again after the expiry: AZSIM_TOKEN_EXPIRED no longer applies
    return [{"cloudName": "AzureCloud", "homeTenantId": TENANT, "id": SUB, "isDefault": True,
             "managedByTenants": [], "name": SUB_NAME, "state": "Enabled", "tenantId": TENANT,
             "user": dict(USER)}]


@command("logout", [F("--username")])
def cmd_logout(st, a, ctx):
    st["logged_in"] = False


def find_subscription(ident):
    for sub_id, name in SUBSCRIPTIONS.items():
        if ident.lower() in (sub_id, name.lower()):
            return sub_id
    raise AzError("Subscription '{}' not found. Check the spelling and casing and try again.".format(ident))


def subscription_json(st, sub_id):
    return {"environmentName": "AzureCloud", "homeTenantId": TENANT, "id": sub_id,
            "isDefault": sub_id == st["subscription"], "managedByTenants": [], "name": SUBSCRIPTIONS[sub_id],
            "state": "Enabled", "tenantId": TENANT, "user": dict(USER)}


# `az account show` takes --name/--subscription as its own option: which subscription to show.
@command("account show", [F("--name -n --subscription -s")], no_subscription=True)
def cmd_account_show(st, a, ctx):
    return subscription_json(st, find_subscription(a["name"]) if a["name"] else st["subscription"])


@command("account set", [F("--name -n --subscription -s", req=True)], no_subscription=True)
def cmd_account_set(st, a, ctx):
    st["subscription"] = find_subscription(a["name"])


@command("account list", [F("--all", kind="bool"), F("--refresh", kind="bool")], no_subscription=True)
def cmd_account_list(st, a, ctx):
    return [subscription_json(st, sub_id) for sub_id in SUBSCRIPTIONS]


def sign_in_expired(st):
    return os.environ.get("AZSIM_TOKEN_EXPIRED") == "1" and not st.get("fresh_sign_in")


# Commands that work from the local cache alone, without a token (even on an expired sign-in).
NO_TOKEN = ("account show", "logout")


@command("account get-access-token", [F("--resource"), F("--scope", kind="multi"), F("--tenant -t"),
                                      F("--resource-type", choices=["aad-graph", "arm", "batch", "data-lake",
                                                                    "media", "ms-graph", "oss-rdbms"])])
def cmd_account_get_access_token(st, a, ctx):
    expires = int(time.time()) + 3600
    return {"accessToken": "eyJ0eXAiOiJKV1Qi." + new_guid().replace("-", ""),
            "expiresOn": datetime.datetime.fromtimestamp(expires).strftime("%Y-%m-%d %H:%M:%S.%f"),
            "expires_on": expires, "subscription": SUB, "tenant": TENANT, "tokenType": "Bearer"}


@command("account list-locations", [F("--include-extended-locations", kind="tri")])
def cmd_account_list_locations(st, a, ctx):
    return [{"displayName": display, "id": "/subscriptions/{}/locations/{}".format(SUB, name),
             "metadata": {"geographyGroup": regional.split(")")[0].lstrip("("), "regionCategory": "Recommended",
                          "regionType": "Physical"},
             "name": name, "regionalDisplayName": regional, "type": "Region"}
            for name, display, regional in LOCATIONS]


def require_location(location):
    if norm_location(location) not in {name for name, _, _ in LOCATIONS}:
        raise arm_error("LocationNotAvailableForResourceGroup", "The provided location '{}' is not available for "
                        "resource group. List of available regions is '{}'.".format(
                            norm_location(location), ",".join(name for name, _, _ in LOCATIONS)))


def user_roles():
    return [r.strip() for r in os.environ.get("AZSIM_USER_ROLES", "Owner").split(",") if r.strip()]


def user_assignment_json(role):
    guid = hashlib.sha256(role.encode()).hexdigest()
    guid = "-".join((guid[:8], guid[8:12], guid[12:16], guid[16:20], guid[20:32]))
    scope = "/subscriptions/" + SUB
    return {"condition": None, "conditionVersion": None, "createdBy": None, "createdOn": None,
            "delegatedManagedIdentityResourceId": None, "description": None,
            "id": "{}/providers/Microsoft.Authorization/roleAssignments/{}".format(scope, guid), "name": guid,
            "principalId": USER_OBJECT_ID, "principalName": USER["name"], "principalType": "User",
            "roleDefinitionId": "{}/providers/Microsoft.Authorization/roleDefinitions/{}".format(
                scope, ROLES.get(role, "00000000-0000-0000-0000-000000000000")),
            "roleDefinitionName": role, "scope": scope, "type": "Microsoft.Authorization/roleAssignments"}


def retired_extensions():
    return {e.strip() for e in os.environ.get("AZSIM_RETIRED_EXTENSIONS", "").split(",") if e.strip()}


@command("extension list-available", [F("--show-details -d", kind="bool")], no_login=True)
def cmd_extension_list_available(st, a, ctx):
    return [{"experimental": False, "installed": name in st["extensions"], "name": name, "preview": False,
             "summary": "Microsoft Azure Command-Line Tools AzureMachineLearningWorkspaces Extension",
             "version": version}
            for name, version in sorted(KNOWN_EXTENSIONS.items()) if name not in retired_extensions()]


@command("version", [], no_login=True)
def cmd_version(st, a, ctx):
    return {"azure-cli": CLI_VERSION, "azure-cli-core": CLI_VERSION, "azure-cli-telemetry": "1.1.0",
            "extensions": {n: e["version"] for n, e in sorted(st["extensions"].items())}}


@command("config set", [F("--local", kind="bool")], positional="key_value", no_login=True)
def cmd_config_set(st, a, ctx):
    for kv in a["key_value"]:
        key, sep, value = kv.partition("=")
        if not sep or "." not in key:
            raise AzError("usage error: argument values should be in the format a.b.c=value or a.b=value")
        st["config"][key] = value


def ext_info(name, info):
    return {"experimental": False, "extensionType": "whl", "name": name,
            "path": os.path.join(home_dir(), "cliextensions", name), "preview": False,
            "version": info["version"]}


@command("extension add", [F("--name -n", req=True), F("--upgrade", kind="bool"), F("--yes -y", kind="bool"),
                           F("--version"), F("--source -s"), F("--allow-preview", kind="tri")], no_login=True)
def cmd_extension_add(st, a, ctx):
    name = a["name"]
    if name not in KNOWN_EXTENSIONS or name in retired_extensions():
        raise AzError("No matching extensions for '{}'. Use --debug for more information.".format(name))
    if name in st["extensions"]:
        warn(ctx, ("Latest version of '{}' is already installed." if a["upgrade"]
                   else "Extension '{}' is already installed.").format(name))
        return None
    for other in st["extensions"]:
        if other in ML_DIALECT and other != name:
            raise AzError("The extension '{}' cannot be installed alongside '{}': both provide the 'az ml' "
                          "command group. Remove it first with 'az extension remove -n {}'."
                          .format(name, other, other))
    version = a["version"] or KNOWN_EXTENSIONS[name]
    if version != KNOWN_EXTENSIONS[name]:
        raise AzError("No matching extensions for '{}' with version '{}'.".format(name, version))
    st["extensions"][name] = {"version": version}
    return None


@command("extension show", [F("--name -n", req=True)], no_login=True)
def cmd_extension_show(st, a, ctx):
    info = st["extensions"].get(a["name"])
    if info is None:
        raise AzError("The extension {} is not installed.".format(a["name"]))
    return ext_info(a["name"], info)


@command("extension list", [], no_login=True)
def cmd_extension_list(st, a, ctx):
    return [ext_info(n, i) for n, i in sorted(st["extensions"].items())]


@command("extension remove", [F("--name -n", req=True)], no_login=True)
def cmd_extension_remove(st, a, ctx):
    if a["name"] not in st["extensions"]:
        raise AzError("The extension {} is not installed.".format(a["name"]))
    del st["extensions"][a["name"]]


# --------------------------------------------------------------------------- groups
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
    g = {"name": name, "location": loc, "id": group_id(name), "tags": parse_tags(a["tags"]), "subscription": CUR_SUB}
    st["groups"][name if CUR_SUB == SUB else "{}@{}".format(name, CUR_SUB)] = g
    return group_json(g)


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


def confirm(a):
    """az's prompt for commands with --yes; there is no tty in a test (knack's NoTTYException)."""
    if a["yes"]:
        return True
    if not sys.stdin.isatty():
        raise AzError("Unable to prompt for confirmation as no tty available. Use --yes.")
    sys.stderr.write("Are you sure you want to perform this operation? (y/n): ")
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def group_missing(name):
    return arm_error("ResourceGroupNotFound", "Resource group '{}' could not be found.".format(name), 3)


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
    rg = g["name"].lower()
    for key, w in list(st["workspaces"].items()):
        # ARM deletes each resource with a plain DELETE: the group's workspaces are soft-deleted.
        if w["resource_group"].lower() == rg and in_current_subscription(w["id"]):
            soft_delete_workspace(st, key)
    for name, acct in list(st["storage_accounts"].items()):
        if acct["resource_group"].lower() == rg and in_current_subscription(acct["id"]):
            del st["storage_accounts"][name]
            for coll in ("filesystems", "files"):
                for k in [k for k in st[coll] if k.startswith(name + "/")]:
                    del st[coll][k]
    drop_assignments_at(st, g["id"])
    del st["groups"][group_key(st, g["name"])]


# --------------------------------------------------------------------------- storage
def account_json(acct):
    n = acct["name"]
    return {"id": acct["id"], "name": n, "location": acct["location"], "kind": acct.get("kind", "StorageV2"),
            "isHnsEnabled": acct["hns"], "creationTime": acct.get("created"),
            "primaryEndpoints": {"blob": "https://{}.blob.core.windows.net/".format(n),
                                 "dfs": "https://{}.dfs.core.windows.net/".format(n),
                                 "file": "https://{}.file.core.windows.net/".format(n),
                                 "queue": "https://{}.queue.core.windows.net/".format(n),
                                 "table": "https://{}.table.core.windows.net/".format(n),
                                 "web": "https://{}.z19.web.core.windows.net/".format(n)},
            "primaryLocation": acct["location"], "provisioningState": "Succeeded",
            "resourceGroup": acct["resource_group"], "minimumTlsVersion": "TLS1_0",
            "sku": {"name": acct.get("sku", "Standard_RAGRS"), "tier": "Standard"},
            "statusOfPrimary": "available", "tags": {}, "type": "Microsoft.Storage/storageAccounts"}


ACCOUNT_NAME_RE = re.compile(r"^[a-z0-9]{3,24}$")


def invalid_account_msg(name):
    return ("{} is not a valid storage account name. Storage account name must be between 3 and 24 "
            "characters in length and use numbers and lower-case letters only.".format(name))


def taken_elsewhere(st, name, rg=None):
    taken = [t.strip() for t in os.environ.get("AZSIM_TAKEN_ACCOUNTS", "").split(",") if t.strip()]
    if name in taken:
        return True
    acct = st["storage_accounts"].get(name)
    return acct is not None and (rg is None or acct["resource_group"].lower() != rg.lower())


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
                "sku": a["sku"] or "Standard_RAGRS", "created": now_iso(),
                "id": "{}/providers/Microsoft.Storage/storageAccounts/{}".format(g["id"], name)}
        st["storage_accounts"][name] = acct
    return account_json(acct)


@command("storage account show", [F("--name -n", req=True), F("--resource-group -g")])
def cmd_storage_account_show(st, a, ctx):
    acct = st["storage_accounts"].get(a["name"])
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


@command("storage fs show", [F("--name -n", req=True), F("--account-name", req=True)] + STORAGE_AUTH)
def cmd_fs_show(st, a, ctx):
    acct = storage_account_for(st, a, ctx)
    if "{}/{}".format(acct["name"], a["name"]) not in st["filesystems"]:
        raise AzError("The specified filesystem does not exist.\nErrorCode:FilesystemNotFound", 3)
    return {"name": a["name"], "metadata": {}, "publicAccess": None, "hasImmutabilityPolicy": False,
            "hasLegalHold": False, "etag": new_etag(), "lastModified": now_iso()}


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
    return storage_response({"content_length": len(data)})


# --------------------------------------------------------------------------- AD / RBAC
def random_password():
    alphabet = string.ascii_letters + string.digits
    body = [_pick(alphabet + "~._-") for _ in range(36)]
    body[os.urandom(1)[0] % len(body)] = "~"  # real secrets carry '~' (and '.', '_', '-'): callers must quote them
    return _pick(string.ascii_letters) + "".join(body) + _pick(string.digits)


def find_sp(st, ident):
    if not ident:
        return None
    for sp in st["service_principals"].values():
        if ident.lower() in (sp["appId"].lower(), sp["id"].lower()):
            return sp
    return None


def resolve_role(name):
    for role, guid in ROLES.items():
        if name.lower() in (role.lower(), guid) or name.lower().endswith("/roledefinitions/" + guid):
            return role
    raise AzError("Role '{}' doesn't exist.".format(name))


def scope_exists(st, scope):
    s = scope.rstrip("/").lower()
    ids = ["/subscriptions/" + CUR_SUB]
    ids += [g["id"] for g in st["groups"].values() if g.get("subscription", SUB) == CUR_SUB]
    ids += [x["id"] for x in st["storage_accounts"].values()]
    ids += [w["id"] for w in st["workspaces"].values()]
    return any(s == i.lower() for i in ids)


def check_scope(st, scope):
    if scope_exists(st, scope):
        return
    m = re.match(r"^/subscriptions/([^/]+)(?:/resourceGroups/([^/]+))?(?:/providers/([^/]+)/([^/]+)/([^/]+))?",
                 scope, re.I)
    if not m or m.group(1).lower() != CUR_SUB:
        raise arm_error("InvalidScope", "The scope '{}' is not valid for role assignments.".format(scope))
    if m.group(2) and find_group(st, m.group(2)) is None:
        raise arm_error("ResourceGroupNotFound", "Resource group '{}' could not be found.".format(m.group(2)))
    if m.group(3):
        raise arm_error("ResourceNotFound", "The Resource '{}/{}/{}' under resource group '{}' was not found."
                        .format(m.group(3), m.group(4), m.group(5), m.group(2)))
    raise arm_error("InvalidScope", "The scope '{}' is not valid for role assignments.".format(scope))


def add_assignment(st, sp, role, scope):
    for r in st["role_assignments"]:
        if r["principalId"] == sp["id"] and r["roleDefinitionName"] == role and r["scope"].lower() == scope.lower():
            return r
    guid = new_guid()
    r = {"id": "{}/providers/Microsoft.Authorization/roleAssignments/{}".format(scope, guid), "name": guid,
         "principalId": sp["id"], "appId": sp["appId"], "roleDefinitionName": role, "scope": scope}
    st["role_assignments"].append(r)
    return r


def assignment_json(r, with_names=False):
    out = {"condition": None, "conditionVersion": None, "createdBy": None, "createdOn": None,
           "delegatedManagedIdentityResourceId": None, "description": None, "id": r["id"], "name": r["name"],
           "principalId": r["principalId"], "principalType": "ServicePrincipal",
           "roleDefinitionId": "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{}"
           .format(r["scope"].split("/")[2], ROLES[r["roleDefinitionName"]]),
           "scope": r["scope"], "type": "Microsoft.Authorization/roleAssignments"}
    if with_names:
        out["principalName"] = r["appId"]
        out["roleDefinitionName"] = r["roleDefinitionName"]
        out["resourceGroup"] = (re.findall(r"/resourceGroups/([^/]+)", r["scope"], re.I) or [None])[0]
    return out


def graph_not_found(x):
    return AzError("Cannot find user or service principal in graph database for '{0}'. If the assignee is an "
                   "appId, make sure the corresponding service principal is created with "
                   "'az ad sp create --id {0}'.".format(x))


def principal_not_found(sp):
    """ARM's answer when Graph knows the principal but ARM's replica does not yet (az 2.9x's format)."""
    return arm_error("PrincipalNotFound", "Principal {} does not exist in the directory {}. Check that you have the "
                     "correct principal ID. If you are creating this principal and then immediately assigning a "
                     "role, this error might be related to a replication delay. In this case, set the role "
                     "assignment principalType property to a value, such as ServicePrincipal, User, or Group.  "
                     "See https://aka.ms/docs-principaltype".format(sp["id"].replace("-", ""), TENANT))


def replication_lag(st, sp, ident, scope):
    """AZSIM_GRAPH_DELAY=K: the first K attempts at each (principal, scope) fail, as a new principal
    replicates: Graph cannot resolve the appId, then ARM does not know the object id, in turn."""
    delay = int(os.environ.get("AZSIM_GRAPH_DELAY", "0") or 0)
    key = "replication:{}:{}".format(sp["appId"], scope.rstrip("/").lower())
    attempts = st["counters"].get(key, 0)
    if attempts < delay:
        st["counters"][key] = attempts + 1
        raise graph_not_found(ident) if attempts % 2 == 0 else principal_not_found(sp)


@command("ad sp create-for-rbac", [F("--name -n --display-name"), F("--role"), F("--scopes", kind="multi"),
                                   F("--years"), F("--create-cert", kind="bool"), F("--cert"),
                                   F("--skip-assignment", kind="bool"), F("--sdk-auth", kind="tri")])
def cmd_sp_create_for_rbac(st, a, ctx):
    if bool(a["role"]) != bool(a["scopes"]):
        raise AzError("usage error: To create role assignments, specify both --role and --scopes.")
    role = resolve_role(a["role"]) if a["role"] else None
    for scope in a["scopes"] or []:
        check_scope(st, scope)
    display = a["name"] or "azure-cli-" + datetime.datetime.now().strftime("%Y-%m-%d-%H-%M-%S")
    sp = None
    if a["name"]:  # real az patches an existing app of that display name (new secret, same appId)
        sp = next((s for s in st["service_principals"].values() if s["displayName"] == a["name"]), None)
        if sp:
            warn(ctx, "Found an existing application instance: (id) {}. We will patch it.".format(sp["appId"]))
    if sp is None:
        sp = {"appId": new_guid(), "tenant": TENANT, "displayName": display, "id": new_guid()}
        st["service_principals"][sp["appId"]] = sp
    years = int(a["years"] or 1)
    sp["password"] = random_password()
    sp["passwords"] = [new_credential(sp["password"], "rbac", years_from_now(years))]  # a patch replaces them
    for scope in a["scopes"] or []:
        add_assignment(st, sp, role, scope)
    warn(ctx, SP_WARNING)
    return {"appId": sp["appId"], "displayName": sp["displayName"], "password": sp["password"], "tenant": TENANT}


def years_from_now(years):
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.replace(year=now.year + years, day=min(now.day, 28))


def iso(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_credential(secret, display, end):
    return {"keyId": new_guid(), "secret": secret, "displayName": display, "hint": secret[:3],
            "startDateTime": iso(datetime.datetime.now(datetime.timezone.utc)), "endDateTime": iso(end)}


def valid_secrets(sp):
    """The client secrets a principal accepts now: its password credentials that have not expired."""
    now = iso(datetime.datetime.now(datetime.timezone.utc))
    creds = sp.get("passwords")
    if creds is None:  # a principal recorded before credentials were modelled
        return [sp["password"]] if sp.get("password") else []
    return [c["secret"] for c in creds if c["endDateTime"] > now]


def check_client_secret(st, client_id, secret):
    """A datastore's credentials are checked against the directory: a stale or wrong secret fails."""
    sp = find_sp(st, client_id)
    if sp is not None and secret not in valid_secrets(sp):
        raise AzError("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
                      "request is the client secret value, not the client secret ID, for a secret added to "
                      "app '{}'.".format(sp["appId"]))


def sp_missing(x):
    return AzError("Resource '{}' does not exist or one of its queried reference-property objects are not "
                   "present.".format(x), 3)


@command("ad sp show", [F("--id", req=True)])
def cmd_sp_show(st, a, ctx):
    sp = find_sp(st, a["id"])
    if sp is None:
        raise sp_missing(a["id"])
    return {"accountEnabled": True, "appDisplayName": sp["displayName"], "appId": sp["appId"],
            "appOwnerOrganizationId": TENANT, "displayName": sp["displayName"], "id": sp["id"],
            "servicePrincipalNames": [sp["appId"]], "servicePrincipalType": "Application",
            "signInAudience": "AzureADMyOrg"}


@command("ad sp delete", [F("--id", req=True)])
def cmd_sp_delete(st, a, ctx):
    sp = find_sp(st, a["id"])
    if sp is None:
        raise sp_missing(a["id"])
    del st["service_principals"][sp["appId"]]


def app_missing(x):
    # An unhandled Graph 404: azure-cli-core exits 3 (REFERENCE.md section 7).
    return AzError("Resource '{}' does not exist or one of its queried reference-property objects are not "
                   "present.".format(x), 3)


@command("ad app delete", [F("--id", req=True)])
def cmd_app_delete(st, a, ctx):
    """Deletes the app and its service principal (soft-deleted in the directory), not its role assignments."""
    sp = find_sp(st, a["id"])
    if sp is None:
        raise app_missing(a["id"])
    del st["service_principals"][sp["appId"]]
    st.setdefault("deleted_apps", []).append(sp["appId"])


@command("ad app credential reset", [F("--id", req=True), F("--append", kind="bool"), F("--years", kind="int"),
                                     F("--end-date"), F("--display-name"), F("--cert"),
                                     F("--create-cert", kind="bool"), F("--keyvault")])
def cmd_app_credential_reset(st, a, ctx):
    if a["years"] is not None and a["end_date"] is not None:
        raise AzError("usage error: --years | --end-date")
    sp = find_sp(st, a["id"])
    if sp is None:
        raise app_missing(a["id"])
    if a["end_date"]:
        try:
            end = datetime.datetime.fromisoformat(a["end_date"].replace("Z", "+00:00"))
        except ValueError:
            raise AzError("Invalid --end-date '{}': use ISO 8601, e.g. 2027-12-31.".format(a["end_date"]))
        if end.tzinfo is None:
            end = end.replace(tzinfo=datetime.timezone.utc)
    else:
        end = years_from_now(a["years"] if a["years"] is not None else 1)
    creds = list(sp.get("passwords") or [])
    if not a["append"]:
        # az removes the passwords one by one, then adds the new one: not atomic. A fault injected with
        # AZSIM_RESET_FAIL_AFTER_REMOVE leaves the app with no password at all, as a failure there would.
        creds = []
        if os.environ.get("AZSIM_RESET_FAIL_AFTER_REMOVE"):
            sp["passwords"], sp["password"] = [], None
            err = AzError("(ServiceUnavailable) injected failure after removing the old passwords")
            err.keep_changes = True  # what was removed stays removed
            raise err
    sp["password"] = random_password()
    sp["passwords"] = creds + [new_credential(sp["password"], a["display_name"] or "rbac", end)]
    warn(ctx, SP_WARNING)
    return {"appId": sp["appId"], "password": sp["password"], "tenant": TENANT}


@command("ad app credential list", [F("--id", req=True), F("--cert", kind="bool")])
def cmd_app_credential_list(st, a, ctx):
    sp = find_sp(st, a["id"])
    if sp is None:
        raise app_missing(a["id"])
    if a["cert"]:
        return []
    return [{"customKeyIdentifier": None, "displayName": c["displayName"], "endDateTime": c["endDateTime"],
             "hint": c["hint"], "keyId": c["keyId"], "secretText": None, "startDateTime": c["startDateTime"]}
            for c in sp.get("passwords") or []]


@command("role assignment delete", [F("--ids", kind="multi"), F("--assignee"), F("--role"), F("--scope"),
                                    F("--resource-group -g"), F("--include-inherited", kind="bool"),
                                    F("--yes -y", kind="bool")])
def cmd_role_assignment_delete(st, a, ctx):
    if a["ids"]:
        wanted = {i.lower() for i in a["ids"]}
        st["role_assignments"] = [r for r in st["role_assignments"] if r["id"].lower() not in wanted]
        return None
    sp = find_sp(st, a["assignee"]) if a["assignee"] else None
    if a["assignee"] and sp is None:
        raise graph_not_found(a["assignee"])
    role = resolve_role(a["role"]) if a["role"] else None
    st["role_assignments"] = [r for r in st["role_assignments"] if not (
        (sp is None or r["principalId"] == sp["id"]) and (role is None or r["roleDefinitionName"] == role)
        and (not a["scope"] or r["scope"].lower() == a["scope"].lower()))]
    return None


@command("role assignment create", [F("--role", req=True), F("--assignee", req=True), F("--scope", req=True),
                                    F("--assignee-object-id"), F("--description"),
                                    F("--assignee-principal-type", choices=["ForeignGroup", "Group",
                                                                            "ServicePrincipal", "User"])])
def cmd_role_assignment_create(st, a, ctx):
    role = resolve_role(a["role"])
    ident = a["assignee_object_id"] or a["assignee"]
    sp = find_sp(st, ident)
    if sp is None:
        raise graph_not_found(ident)
    replication_lag(st, sp, ident, a["scope"])
    check_scope(st, a["scope"])
    if not set(user_roles()) & set(ASSIGNER_ROLES):
        raise arm_error("AuthorizationFailed", "The client '{}' with object id '{}' does not have authorization to "
                        "perform action 'Microsoft.Authorization/roleAssignments/write' over scope '{}' or the scope "
                        "is invalid. If access was recently granted, please refresh your credentials."
                        .format(USER["name"], USER_OBJECT_ID, a["scope"]))
    return assignment_json(add_assignment(st, sp, role, a["scope"]))


@command("role assignment list", [F("--assignee"), F("--scope"), F("--role"), F("--all", kind="bool"),
                                  F("--resource-group -g"), F("--include-inherited", kind="bool"),
                                  F("--include-groups", kind="bool"), F("--include-classic-administrators", kind="tri"),
                                  F("--fill-principal-name", kind="tri"), F("--fill-role-definition-name", kind="tri")])
def cmd_role_assignment_list(st, a, ctx):
    out = []
    role = resolve_role(a["role"]) if a["role"] else None
    if a["assignee"] and a["assignee"].lower() in (USER["name"], USER_OBJECT_ID):
        # the signed-in user's roles (AZSIM_USER_ROLES), all on the subscription
        return [user_assignment_json(r) for r in user_roles() if not role or r == role]
    sp = find_sp(st, a["assignee"]) if a["assignee"] else None
    if a["assignee"] and sp is None:
        raise graph_not_found(a["assignee"])
    for r in st["role_assignments"]:
        if a["scope"]:
            if r["scope"].lower() != a["scope"].rstrip("/").lower():
                continue
        elif a["resource_group"]:
            if ("/resourcegroups/" + a["resource_group"].lower()) not in r["scope"].lower():
                continue
        elif not (a["all"] or a["assignee"]) and r["scope"].lower() != "/subscriptions/" + CUR_SUB:
            continue  # az: without --all only subscription-scoped assignments are listed
        if role and r["roleDefinitionName"] != role:
            continue
        if sp and r["principalId"] != sp["id"]:
            continue
        out.append(assignment_json(r, with_names=True))
    return out


# --------------------------------------------------------------------------- ml v1 (azure-cli-ml)
def ws_id(rg_id, name):
    return "{}/providers/Microsoft.MachineLearningServices/workspaces/{}".format(rg_id, name)


def make_ws(st, g, name, location, api):
    return {"name": name, "resource_group": g["name"], "location": norm_location(location or g["location"]),
            "id": ws_id(g["id"], name), "workspace_id": new_guid(), "api": api,
            "friendly_name": name, "description": ""}


def ws_v1_json(w):
    base = w["id"].split("/providers/")[0] + "/providers/"
    short = re.sub(r"[^a-z0-9]", "", w["name"].lower())[:12]
    return {"applicationInsights": base + "microsoft.insights/components/{}insights".format(short),
            "containerRegistry": None, "description": w.get("description", ""),
            "discoveryUrl": "https://{}.api.azureml.ms/discovery".format(w["location"]),
            "friendlyName": w.get("friendly_name") or w["name"], "hbiWorkspace": False, "id": w["id"],
            "identityPrincipalId": flip_guid(w["workspace_id"]),
            "identityTenantId": TENANT, "identityType": "SystemAssigned",
            "keyVault": base + "microsoft.keyvault/vaults/{}keyvault".format(short),
            "location": w["location"], "name": w["name"], "resourceGroup": w["resource_group"],
            "sku": "Basic", "storageAccount": base + "microsoft.storage/storageaccounts/{}storage".format(short),
            "tags": {}, "workspaceid": w["workspace_id"]}


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
        g = {"name": a["resource_group"], "location": norm_location(a["location"] or "eastus"),
             "id": group_id(a["resource_group"]), "tags": None}
        st["groups"][g["name"]] = g
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
         "location": w["location"], "id": compute_id(w, a["name"])}
    st["computes"][key] = c
    return compute_v1_json(c)


def compute_v1_json(c):
    return {"computeType": "AmlCompute", "description": None, "id": c["id"], "location": c["location"],
            "name": c["name"], "provisioningState": "Succeeded", "resourceGroup": c["resource_group"],
            "scaleSettings": {"maxNodeCount": c["max_nodes"], "minNodeCount": c["min_nodes"],
                              "nodeIdleTimeBeforeScaleDown": "PT{}S".format(c.get("idle_seconds", 1800))},
            "vmPriority": c.get("priority", "dedicated").capitalize(), "vmSize": c["vm_size"],
            "workspaceName": c["workspace"]}


def require_compute(st, a):
    wkey, w = require_ws(st, a["resource_group"], a["workspace_name"], 3)
    c = st["computes"].get("{}/{}".format(wkey, a["name"]))
    if c is None:
        raise arm_error("ResourceNotFound", "Compute '{}' not found in workspace '{}'."
                        .format(a["name"], w["name"]), 3)
    return c


@command("ml computetarget show", [F("--name -n", req=True), WS, RG], dialect="v1")
def cmd_computetarget_show(st, a, ctx):
    wkey, w = find_ws(st, a["resource_group"], a["workspace_name"])
    c = st["computes"].get("{}/{}".format(wkey, a["name"])) if w else None
    if c is None:
        raise v1_not_found("ComputeTargetException:\n\tMessage: ComputeTargetNotFound: Compute target {}".format(a["name"]))
    return compute_v1_json(c)


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


def require_datastore(st, a):
    wkey, w = require_ws(st, a["resource_group"], a["workspace_name"], 3)
    d = st["datastores"].get("{}/{}".format(wkey, a["name"]))
    if d is None:
        raise arm_error("UserError", "Datastore '{}' was not found in workspace '{}'."
                        .format(a["name"], w["name"]), 3)
    return wkey, w, d


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


# --------------------------------------------------------------------------- ml v2 (ml)
def ws_v2_json(w):
    v1 = ws_v1_json(w)
    return {"application_insights": v1["applicationInsights"], "description": w.get("description", ""),
            "discovery_url": v1["discoveryUrl"], "display_name": w.get("friendly_name") or w["name"],
            "enable_data_isolation": False, "hbi_workspace": False, "id": w["id"],
            "identity": {"principal_id": v1["identityPrincipalId"], "tenant_id": TENANT,
                         "type": "system_assigned"},
            "key_vault": v1["keyVault"], "location": w["location"],
            "mlflow_tracking_uri": "azureml://{}.api.azureml.ms/mlflow/v1.0{}".format(w["location"], w["id"]),
            "name": w["name"], "public_network_access": "Enabled", "resource_group": w["resource_group"],
            "storage_account": v1["storageAccount"], "tags": w.get("tags") or {}}


@command("ml workspace create", [F("--name -n", req=True), RG, F("--location -l"), F("--file -f"),
                                 F("--set", kind="multi"), F("--no-wait", kind="bool"), F("--description"),
                                 F("--display-name"), F("--tags", kind="multi")], dialect="v2")
def cmd_ws_create_v2(st, a, ctx):
    g = require_group(st, a["resource_group"])
    _, w = find_ws(st, g["name"], a["name"])
    if w is None:
        refuse_soft_deleted(st, g["name"], a["name"])
    if w is None:  # v2 create is create-or-update
        w = make_ws(st, g, a["name"], a["location"], "v2")
        st["workspaces"][ws_key(g["name"], w["name"])] = w
    if a["display_name"]:
        w["friendly_name"] = a["display_name"]
    if a["description"] is not None:
        w["description"] = a["description"]
    if a["tags"] is not None:
        w["tags"] = parse_tags(a["tags"])
    return None if a["no_wait"] else ws_v2_json(w)


@command("ml workspace show", [F("--name -n", req=True), RG], dialect="v2")
def cmd_ws_show_v2(st, a, ctx):
    _, w = require_ws(st, a["resource_group"], a["name"], 3)
    return ws_v2_json(w)


def compute_v2_json(c):
    out = {"id": c["id"], "location": c["location"], "name": c["name"], "provisioning_state": "Succeeded",
           "resourceGroup": c["resource_group"], "size": c["vm_size"], "type": c["type"].lower()}
    if c["type"] == "AmlCompute":
        out.update({"idle_time_before_scale_down": c.get("idle_seconds", 120), "max_instances": c["max_nodes"],
                    "min_instances": c["min_nodes"], "tier": c.get("priority", "dedicated")})
    return out


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
                                    "id": compute_id(w, a["name"])}
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


# --------------------------------------------------------------------------- deletes (REFERENCE.md section 7)
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


@command("ml workspace delete", [F("--workspace-name -w", req=True), RG, F("--delete-dependent-resources", kind="bool"),
                                 F("--no-wait", kind="bool")], dialect="v1")
def cmd_ws_delete_v1(st, a, ctx):
    key, w = find_ws(st, a["resource_group"], a["workspace_name"])
    if w is None:
        raise v1_not_found("Workspace {} in resource group {}".format(a["workspace_name"], a["resource_group"]))
    soft_delete_workspace(st, key)  # the v1 CLI cannot purge


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
    if a["permanently_delete"]:
        purge_workspace(st, key)
    else:
        soft_delete_workspace(st, key)


@command("ml computetarget delete", [F("--name -n", req=True), WS, RG], dialect="v1")
def cmd_computetarget_delete(st, a, ctx):
    wkey, w = find_ws(st, a["resource_group"], a["workspace_name"])
    if st["computes"].pop("{}/{}".format(wkey, a["name"]), None) is None:
        raise v1_not_found("ComputeTargetException:\n\tMessage: ComputeTargetNotFound: Compute target {}".format(a["name"]))


@command("ml compute delete", [F("--name -n", req=True), WS, RG, F("--yes -y", kind="bool"),
                               F("--no-wait", kind="bool")], dialect="v2")
def cmd_compute_delete_v2(st, a, ctx):
    c = require_compute(st, a)
    if not confirm(a):
        return None
    del st["computes"]["{}/{}".format(ws_key(c["resource_group"], c["workspace"]), c["name"])]


@command("ml datastore delete", [F("--name -n", req=True), WS, RG], dialect="v2")
def cmd_datastore_delete_v2(st, a, ctx):
    wkey, w, d = require_datastore(st, a)
    del st["datastores"]["{}/{}".format(wkey, d["name"])]


@command("ml datastore list", [WS, RG], dialect="v1")
def cmd_datastore_list_v1(st, a, ctx):
    wkey, w = require_ws(st, a["resource_group"], a["workspace_name"])
    return [datastore_v1_json(d) for k, d in st["datastores"].items() if k.startswith(wkey + "/")]


@command("ml datastore list", [WS, RG, F("--include-archived", kind="bool")], dialect="v2")
def cmd_datastore_list_v2(st, a, ctx):
    wkey, w = require_ws(st, a["resource_group"], a["workspace_name"], 3)
    return [datastore_v2_json(w, d) for k, d in st["datastores"].items() if k.startswith(wkey + "/")]


# --------------------------------------------------------------------------- generic resources, az rest
def resource_index(st):
    """Every ARM resource the simulator holds, by lowercased id, as `az resource show` prints it."""
    out = {}
    for g in st["groups"].values():
        if g.get("subscription", SUB) == CUR_SUB:
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
                                "properties": {"computeType": c["type"], "provisioningState": "Succeeded",
                                               "properties": {"vmSize": c["vm_size"], "vmPriority": "Dedicated",
                                                              "scaleSettings": {"maxNodeCount": c["max_nodes"],
                                                                                "minNodeCount": c["min_nodes"]}}}}
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
        if r["type"] == "Microsoft.Resources/resourceGroups":
            continue
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


# --------------------------------------------------------------------------- parsing
def available_commands(st):
    dialects = {None} | {ML_DIALECT[e] for e in st["extensions"] if e in ML_DIALECT}
    return {k[1]: v for k, v in COMMANDS.items() if k[0] in dialects}


def resolve_command(st, words, ctx):
    """Longest command path matching the leading words; unknown word -> az's exit-2 message."""
    cmds = available_commands(st)
    for n in range(len(words), 0, -1):
        if " ".join(words[:n]) in cmds:
            return cmds[" ".join(words[:n])], words[n:]
    # find where the path stops matching any command/group
    depth = 0
    while depth < len(words) and any(p.split()[:depth + 1] == words[:depth + 1] for p in cmds):
        depth += 1
    if depth == len(words):  # a command group: az prints the group's help and exits 0
        subs = sorted({p.split()[depth] for p in cmds if p.split()[:depth] == words[:depth]})
        return {"group_help": subs}, []
    bad = words[depth]
    if depth == 0 and bad == "ml":
        return dynamic_install(st, words, ctx)
    choices = sorted({p.split()[depth] for p in cmds if p.split()[:depth] == words[:depth]})
    extra = []
    close = _close_matches(bad, choices, n=1, cutoff=0.7)
    if close:
        extra.append("Did you mean '{}' ?".format(close[0]))
    elif depth == 0:
        extra.append(EXTENSION_REFERENCE)
    raise AzError("'{}' is misspelled or not recognized by the system.".format(bad), 2, extra)


def dynamic_install(st, words, ctx):
    mode = (os.environ.get("AZURE_EXTENSION_USE_DYNAMIC_INSTALL")
            or st["config"].get("extension.use_dynamic_install") or "yes_prompt").lower()
    if mode == "yes_without_prompt":
        warn(ctx, "The command requires the extension ml. It will be installed first.")
        st["extensions"]["ml"] = {"version": KNOWN_EXTENSIONS["ml"]}
        return resolve_command(st, words, ctx)
    if mode == "no":
        raise AzError("'ml' is misspelled or not recognized by the system.", 2, [EXTENSION_REFERENCE])
    raise AzError("The command requires the extension ml. Unable to prompt for extension install confirmation "
                  "as no tty available. Run 'az config set extension.use_dynamic_install=yes_without_prompt' "
                  "to allow installing extensions without prompt.", 2)


def looks_like_option(tok):
    """argparse treats '-x...' as an option unless it is a negative number or contains a space."""
    return tok.startswith("-") and len(tok) > 1 and not re.match(r"^-\d+$|^-\d*\.\d+$", tok) and " " not in tok


def parse_args(spec, args):
    flags = spec["flags"] + GLOBAL_FLAGS
    by_name = {n: f for f in flags for n in f.names}
    values = {f.dest: f.default for f in flags}
    seen, unknown, positional = set(), [], []
    positional_open = False
    cmd = "az " + spec["path"]
    i = 0
    while i < len(args):
        tok = args[i]
        i += 1
        if not looks_like_option(tok):
            # argparse consumes an nargs='+' positional from one contiguous block only
            if spec["positional"] and (not positional or positional_open):
                positional.append(tok)
                positional_open = True
            else:
                unknown.append(tok)
            continue
        positional_open = False
        name, eq, inline = tok.partition("=") if tok.startswith("--") else (tok, "", "")
        if not eq and not tok.startswith("--") and len(tok) > 2 and tok[:2] in by_name:
            name, eq, inline = tok[:2], "=", tok[2:]  # argparse-style '-nvalue'
        f = by_name.get(name)
        if f is None:
            unknown.append(tok)
            continue
        seen.add(f.dest)
        if f.kind == "bool":
            if eq:
                raise AzError("argument {}: ignored explicit argument '{}'".format(f.label, inline), 2)
            values[f.dest] = True
            continue
        if eq:
            vals = [inline]
        elif f.kind == "tri":  # nargs='?': '--hns' alone means true
            if i < len(args) and not looks_like_option(args[i]):
                vals = [args[i]]
                i += 1
            else:
                vals = ["true"]
        elif f.kind == "multi":
            vals = []
            while i < len(args) and not looks_like_option(args[i]):
                vals.append(args[i])
                i += 1
            if not vals:
                raise AzError("argument {}: expected at least one argument".format(f.label), 2)
        else:
            if i >= len(args) or looks_like_option(args[i]):
                raise AzError("argument {}: expected one argument".format(f.label), 2)
            vals = [args[i]]
            i += 1
        for v in vals:
            if f.choices is not None and v.lower() not in [c.lower() for c in f.choices]:
                close = _close_matches(v, f.choices, n=1, cutoff=0.7)
                raise AzError("{}: '{}' is not a valid value for '{}'.".format(cmd, v, f.names[0]), 2,
                              ["Did you mean '{}' ?".format(close[0])] if close else
                              ["Allowed values: {}".format(", ".join(f.choices))])
        if f.kind == "int":
            try:
                values[f.dest] = int(vals[0])
            except ValueError:
                raise AzError("argument {}: invalid int value: '{}'".format(f.label, vals[0]), 2)
        elif f.kind == "multi":
            values[f.dest] = (values[f.dest] or []) + vals
        elif f.kind == "tri":
            values[f.dest] = vals[0].lower()
        else:
            values[f.dest] = vals[0]
    missing = [f.label for f in spec["flags"] if f.req and f.dest not in seen]
    if spec["positional"] and not positional:
        missing.append(spec["positional"])
    if missing:
        raise AzError("the following arguments are required: {}".format(", ".join(missing)), 2,
                      ["usage: {} {}".format(cmd, usage_of(spec))])
    if unknown:
        raise AzError("unrecognized arguments: {}".format(" ".join(unknown)), 2,
                      ["usage: {} {}".format(cmd, usage_of(spec))])
    if spec["positional"]:
        values[spec["positional"]] = positional
    return values


def usage_of(spec):
    parts = []
    for f in spec["flags"]:
        arg = f.names[0] + ("" if f.kind == "bool" else " {" + ",".join(f.choices) + "}" if f.choices
                            else " " + f.dest.upper())
        parts.append(arg if f.req else "[" + arg + "]")
    if spec["positional"]:
        parts.append(spec["positional"].upper())
    return " ".join(parts)


# --------------------------------------------------------------------------- output
def apply_query(result, query):
    """Small JMESPath subset: dotted names, [N] and [] projection."""
    tokens = re.findall(r"[A-Za-z_][\w\-]*|\[\d*\]|\.", query)
    if "".join(tokens) != query.replace(" ", ""):
        raise AzError("argument --query: az-sim supports only a.b, a[0] and a[].b query expressions", 2)

    def step(val, toks):
        if not toks:
            return val
        t, rest = toks[0], toks[1:]
        if t == ".":
            return step(val, rest)
        if t == "[]":
            return [step(v, rest) for v in val] if isinstance(val, list) else None
        if t.startswith("["):
            idx = int(t[1:-1])
            return step(val[idx], rest) if isinstance(val, list) and -len(val) <= idx < len(val) else None
        return step(val.get(t), rest) if isinstance(val, dict) else None
    return step(result, tokens)


def render(result, fmt):
    if fmt == "none" or result is None:
        return ""
    if fmt in ("json", "jsonc"):
        return json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if fmt == "tsv":
        rows = result if isinstance(result, list) else [result]
        lines = []
        for r in rows:
            if isinstance(r, dict):
                lines.append("\t".join("" if v is None else str(v) for k, v in sorted(r.items())
                                       if not isinstance(v, (dict, list))))
            else:
                lines.append("" if r is None else str(r).lower() if isinstance(r, bool) else str(r))
        return "\n".join(lines) + "\n"
    if fmt in ("yaml", "yamlc"):
        def y(v, ind=0):
            pad = " " * ind
            if isinstance(v, dict):
                return "".join("{}{}:{}".format(pad, k, "\n" + y(x, ind + 2) if isinstance(x, (dict, list)) and x
                                               else " " + json.dumps(x) + "\n") for k, x in sorted(v.items()))
            if isinstance(v, list):
                return "".join("{}- {}".format(pad, y(x, ind + 2).lstrip() if isinstance(x, (dict, list))
                                               else json.dumps(x) + "\n") for x in v)
            return pad + json.dumps(v) + "\n"
        return y(result)
    # table: scalar columns only, like az's default table transformer (not JSON!)
    rows = result if isinstance(result, list) else [result]
    if not rows or not all(isinstance(r, dict) for r in rows):
        return "Result\n------\n" + "\n".join(str(r) for r in rows) + "\n"
    cols = [k for k in rows[0] if not isinstance(rows[0][k], (dict, list))]
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in cols] for r in rows]
    heads = [c[0].upper() + c[1:] for c in cols]
    widths = [max([len(h)] + [len(row[j]) for row in cells]) for j, h in enumerate(heads)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()
    return "\n".join([line(heads), line(["-" * w for w in widths])] + [line(r) for r in cells]) + "\n"


def print_error(err):
    sys.stderr.write("ERROR: {}\n".format(err.msg))
    for line in err.extra:
        sys.stderr.write(line + "\n")


# --------------------------------------------------------------------------- meta
def summary(st):
    out = ["az-sim state in {}".format(home_dir()),
           "logged in: {}".format("yes" if st["logged_in"] else "no"),
           "extensions: {}".format(", ".join("{} {}".format(n, e["version"]) for n, e in
                                              sorted(st["extensions"].items())) or "none"),
           "output default: {}".format(st["config"].get("core.output", "json"))]
    out.append("resource groups ({}):".format(len(st["groups"])))
    out += ["  {} ({})".format(g["name"], g["location"]) for g in st["groups"].values()]
    out.append("workspaces ({}):".format(len(st["workspaces"])))
    out += ["  {} in {} ({}, {} api)".format(w["name"], w["resource_group"], w["location"], w.get("api"))
            for w in st["workspaces"].values()]
    out.append("computes ({}):".format(len(st["computes"])))
    out += ["  {} in {}/{}: {} {}, nodes {}..{}".format(c["name"], c["resource_group"], c["workspace"], c["type"],
                                                        c["vm_size"], c["min_nodes"], c["max_nodes"])
            for c in st["computes"].values()]
    out.append("storage accounts ({}):".format(len(st["storage_accounts"])))
    out += ["  {} in {} ({}, hierarchical namespace {})".format(s["name"], s["resource_group"], s["location"],
                                                                "on" if s["hns"] else "off")
            for s in st["storage_accounts"].values()]
    out.append("filesystems ({}):".format(len(st["filesystems"])))
    out += ["  {}".format(k) for k in st["filesystems"]]
    out.append("files ({}):".format(len(st["files"])))
    out += ["  {} ({} bytes)".format(k, f["size"]) for k, f in st["files"].items()]
    out.append("service principals: {}".format(len(st["service_principals"])))
    out += ["  {} appId {}".format(s["displayName"], s["appId"]) for s in st["service_principals"].values()]
    out.append("role assignments ({}):".format(len(st["role_assignments"])))
    out += ["  {} -> appId {} on {}".format(r["roleDefinitionName"], r["appId"], r["scope"])
            for r in st["role_assignments"]]
    out.append("datastores ({}):".format(len(st["datastores"])))
    out += ["  {} ({} api): {}/{} as client {} (secret hidden)".format(
        k, d["api"], d["account_name"], d["filesystem"], d["client_id"]) for k, d in st["datastores"].items()]
    out.append("calls recorded: {}".format(len(st["calls"])))
    return "\n".join(out) + "\n"


def command_words(argv):
    words = []
    for tok in argv:
        if tok.startswith("-"):
            break
        words.append(tok)
    return words


def latency_for(argv):
    scale = float(os.environ.get("AZSIM_CLOCK_SCALE") or 1)
    delay = float(os.environ.get("AZSIM_LATENCY") or 0)
    profile = os.environ.get("AZSIM_LATENCY_PROFILE")
    if profile:
        words = command_words(argv)
        best = -1
        for prefix, secs in json.loads(profile).items():
            p = prefix.split()
            if words[:len(p)] == p and len(p) > best:
                best, delay = len(p), float(secs)
    return delay * scale


# --------------------------------------------------------------------------- main
def trace(raw_argv, delay):
    path = os.environ.get("AZSIM_TRACE")
    if path:
        with open(path, "a", encoding="utf-8") as f:  # one short write: lines of concurrent calls stay whole
            f.write(json.dumps({"pid": os.getpid(), "argv": raw_argv, "sleep": delay}) + "\n")


def run(raw_argv):
    global _timeline_entry
    started = time.time()
    ctx = {"only_show_errors": "--only-show-errors" in raw_argv}
    delay = max(0.0, latency_for(raw_argv))
    trace(raw_argv, delay)
    time.sleep(delay)  # before the lock: a kill here changes nothing
    with StateLock():
        st = load_state()
        st["calls"].append(list(raw_argv))
        # When each call started (before its latency) and ended (its state saved), for tests of overlap and order.
        _timeline_entry = {"argv": list(raw_argv), "start": started, "end": None, "pid": os.getpid()}
        st["timeline"].append(_timeline_entry)
        try:
            match = os.environ.get("AZSIM_FAIL_MATCH")
            if match and match in " ".join(raw_argv):
                key = "fail_match:" + match
                st["counters"][key] = st["counters"].get(key, 0) + 1
                if st["counters"][key] == int(os.environ.get("AZSIM_FAIL_NTH") or 1):
                    save_state(st)
                    sys.stderr.write(os.environ.get("AZSIM_FAIL_STDERR", "ERROR: injected failure") + "\n")
                    return int(os.environ.get("AZSIM_FAIL_EXIT") or 1)
            argv = expand_file_args(raw_argv)
            snapshot = copy.deepcopy(st)
            words = command_words(argv)
            spec, rest = resolve_command(st, words, ctx)
            if "group_help" in spec:
                save_state(st)
                sys.stdout.write("Group\n    az {}\n\nSubgroups/Commands:\n{}\n".format(
                    " ".join(words), "\n".join("    " + s for s in spec["group_help"])))
                return 0
            args = rest + argv[len(words):]
            if "--help" in args or "-h" in args:
                save_state(st)
                sys.stdout.write("usage: az {} {}\n".format(spec["path"], usage_of(spec)))
                return 0
            a = parse_args(spec, args)
            fmt = (a["output"] or os.environ.get("AZURE_CORE_OUTPUT") or st["config"].get("core.output")
                   or "json").lower()
            if fmt not in OUTPUT_FORMATS:
                fmt = "json"
            ctx["only_show_errors"] = bool(a["only_show_errors"])
            if not spec["no_login"] and not st["logged_in"]:
                raise AzError("Please run 'az login' to setup account.")
            if not spec["no_login"] and spec["path"] not in NO_TOKEN and sign_in_expired(st):
                raise AzError(EXPIRED_SIGN_IN, 1, EXPIRED_SIGN_IN_EXTRA)
            global CUR_SUB
            CUR_SUB = find_subscription(a["subscription"]) if a.get("subscription") else st["subscription"]
            result = spec["handler"](st, a, ctx)
            if a["query"]:
                result = apply_query(result, a["query"])
        except AzError as err:
            if "snapshot" in locals() and not getattr(err, "keep_changes", False):
                # keep the record of the call and counters, undo everything else
                counters, calls, timeline = st["counters"], st["calls"], st["timeline"]
                st = snapshot
                st["counters"], st["calls"], st["timeline"] = counters, calls, timeline
            save_state(st)
            print_error(err)
            return err.code
        save_state(st)
    garbage = os.environ.get("AZSIM_GARBAGE_MATCH")
    if garbage and garbage in " ".join(raw_argv):
        sys.stdout.write("\x1b[33m- Running ..\x1b[0m\n{not json at all <<<\n")
        return 0
    sys.stdout.write(render(result, fmt))
    return 0


def main():
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    argv = sys.argv[1:]
    if argv in (["--help"], ["-h"], []):
        sys.stdout.write(HELP)
        return 0
    if argv == ["--summary"]:
        with StateLock():
            sys.stdout.write(summary(load_state()))
        return 0
    if argv == ["--reset"]:
        with StateLock():
            save_state(fresh_state())
        sys.stdout.write("az-sim state reset in {}\n".format(home_dir()))
        return 0
    try:
        return run(argv)
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
