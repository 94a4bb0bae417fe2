"""Who a call acts as, and what it may do.

The configuration directory: az keeps its sign-in, its config and (by default) its extensions in
AZURE_CONFIG_DIR, ~/.azure when unset. The simulator keeps the default one's sign-in in its state
(it never touches ~/.azure); a call with AZURE_CONFIG_DIR set uses that directory's own sign-in, which
`az login` there writes (azureProfile.json, and for a service principal its secret in
service_principal_entries.json, in plain text as az does on Linux). A directory that lost its
azureProfile.json is signed out. Extensions live in AZURE_EXTENSION_DIR, else <config dir>/cliextensions:
a fresh configuration directory has none.

A call signed in as a service principal is judged by role-based access control: a role assignment
counts only once AZSIM_RBAC_DELAY more calls (of anyone) have been made after it (propagation; no
wall clock), on a scope that holds what the call touches. Data-plane calls (`storage fs ... --auth-mode
login`) need a Storage Blob Data role; ARM reads of a workspace need a role on it; anything else is refused.
"""
import datetime
import os

from . import core
from .core import SUB, SUBSCRIPTIONS, TENANT, AzError, arm_error, find_sp, new_guid

PROFILE = "azureProfile.json"
SP_ENTRIES = "service_principal_entries.json"
DEFAULT_RBAC_DELAY = 4
TENANT_LEVEL = "N/A(tenant level account)"

DATA_READERS = ("Storage Blob Data Owner", "Storage Blob Data Contributor", "Storage Blob Data Reader")
DATA_WRITERS = ("Storage Blob Data Owner", "Storage Blob Data Contributor")
KEY_LISTERS = ("Owner", "Contributor", "Storage Account Contributor")
WORKSPACE_READERS = ("Owner", "Contributor", "Reader", "AzureML Data Scientist")
STORAGE_READS = ("storage fs file download", "storage fs file list", "storage fs file exists", "storage fs exists",
                 "storage fs show", "storage fs file show")
WORKSPACE_READS = ("ml workspace show", "ml datastore list", "ml datastore show", "ml compute show",
                   "ml computetarget show")
NEED_NO_ROLE = ("login", "logout", "account show", "account list", "account set", "account get-access-token",
                "version", "config set", "extension ")

# az 2.91's storage handler replaces the service's 403 text with this (az-facts 10); the service's own
# text reaches the user from other paths. The simulator answers with each in turn.
DATA_FORBIDDEN_CLI = ("\nYou do not have the required permissions needed to perform this operation.\n"
                      "Depending on your operation, you may need to be assigned one of the following roles:\n"
                      '    "Storage Blob Data Owner"\n    "Storage Blob Data Contributor"\n'
                      '    "Storage Blob Data Reader"\n    "Storage Queue Data Contributor"\n'
                      '    "Storage Queue Data Reader"\n    "Storage Table Data Contributor"\n'
                      '    "Storage Table Data Reader"\n\n'
                      'If you want to use the old authentication method and allow querying for the right account key, '
                      'please use the "--auth-mode" parameter and "key" value.')
DATA_FORBIDDEN_SERVICE = ("This request is not authorized to perform this operation using this permission.\n"
                          "RequestId:{}\nTime:{}\nErrorCode:AuthorizationPermissionMismatch")


# --------------------------------------------------------------------------- configuration directories
def config_dir():
    """AZURE_CONFIG_DIR as an absolute path; None: the default one (~/.azure), kept in the state."""
    d = os.environ.get("AZURE_CONFIG_DIR")
    return os.path.abspath(os.path.expanduser(d)) if d else None


def session(st):
    """The sign-in this call uses: the default one (the state itself) or AZURE_CONFIG_DIR's."""
    d = config_dir()
    if d is None:
        return st
    os.makedirs(d, exist_ok=True)  # as az does on every call: 0777 less the umask, so private only if made so
    sessions = st.setdefault("config_dirs", {})
    if d not in sessions or not os.path.isfile(os.path.join(d, PROFILE)):
        sessions[d] = {"logged_in": False, "subscription": None, "config": {}}
    return sessions[d]


def extension_dir():
    custom = os.environ.get("AZURE_EXTENSION_DIR")
    if custom:
        return os.path.abspath(os.path.expanduser(custom))
    return os.path.join(config_dir() or core.home_dir(), "cliextensions")


def extensions(st):
    """The extensions installed where this call looks for them."""
    d = extension_dir()
    if d == os.path.join(core.home_dir(), "cliextensions"):
        return st["extensions"]
    return st.setdefault("extension_dirs", {}).setdefault(d, {})


def write_profile(d, entries, secret_entry=None):
    import json

    with open(os.path.join(d, PROFILE), "w", encoding="utf-8") as f:
        json.dump({"installationId": new_guid(), "subscriptions": entries}, f, indent=2)
    if secret_entry is not None:
        with open(os.path.join(d, SP_ENTRIES), "w", encoding="utf-8") as f:
            json.dump([secret_entry], f)


def account_entry(sess, sub_id):
    """One subscription as `az login` and `az account show` print it, for this sign-in."""
    user = ({"name": sess["principal"], "type": "servicePrincipal"} if sess.get("principal") else dict(core.USER))
    if sub_id is None:
        return {"cloudName": "AzureCloud", "homeTenantId": TENANT, "id": TENANT, "isDefault": True,
                "managedByTenants": [], "name": TENANT_LEVEL, "state": "Enabled", "tenantId": TENANT, "user": user}
    tenant = os.environ.get("AZSIM_OTHER_TENANT") or TENANT  # another terminal's `az login --tenant`
    return {"cloudName": "AzureCloud", "homeTenantId": tenant, "id": sub_id, "isDefault": sub_id == sess["subscription"],
            "managedByTenants": [], "name": SUBSCRIPTIONS[sub_id], "state": "Enabled", "tenantId": tenant,
            "user": user}


def visible_subscriptions(sess):
    """The subscriptions this sign-in knows (as of its `az login`)."""
    return sess.get("subscriptions", list(SUBSCRIPTIONS)) if sess.get("principal") else list(SUBSCRIPTIONS)


# --------------------------------------------------------------------------- az login --service-principal
def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_secret(sp, secret):
    """AADSTS errors of the token endpoint for a client secret the app does not accept now."""
    creds = sp.get("passwords")
    if creds is None:  # a principal recorded before credentials were modelled
        creds = [{"secret": sp.get("password"), "endDateTime": "9999-12-31T00:00:00Z"}]
    mine = [c for c in creds if c.get("secret") == secret]
    if not mine:
        raise AzError("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is "
                      "the client secret value, not the client secret ID, for a secret added to app '{}'. Trace ID: {} "
                      "Correlation ID: {} Timestamp: {}".format(sp["appId"], new_guid(), new_guid(), _now()))
    if all(c["endDateTime"] <= _now() for c in mine):
        raise AzError("AADSTS7000222: The provided client secret keys for app '{}' are expired. Visit the Azure "
                      "portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using "
                      "certificate credentials for added security: https://aka.ms/certCreds. Trace ID: {} "
                      "Correlation ID: {} Timestamp: {}".format(sp["appId"], new_guid(), new_guid(), _now()))


def login_service_principal(st, a, sess):
    app_id, secret, tenant = a["username"], a["password"], a["tenant"]
    if not app_id or secret is None:
        raise AzError("Please specify both username and password in non-interactive mode.")
    if not tenant:
        raise AzError("usage error: --service-principal --username NAME --password SECRET --tenant TENANT", 2)
    if tenant.lower() != TENANT:
        raise AzError("AADSTS90002: Tenant '{}' not found. Check to make sure you have the correct tenant ID and are "
                      "signing into the correct cloud.".format(tenant))
    sp = find_sp(st, app_id)
    if sp is None or sp["appId"].lower() != app_id.lower():
        raise AzError("AADSTS700016: Application with identifier '{}' was not found in the directory 'Azure Sim'. "
                      "This can happen if the application has not been installed by the administrator of the tenant "
                      "or consented to by any user in the tenant. You may have sent your authentication request to "
                      "the wrong tenant.".format(app_id))
    check_secret(sp, secret)
    # Subscriptions where the principal holds an applied role (at any scope inside them).
    subs = sorted({r["scope"].split("/")[2].lower() for r in st["role_assignments"]
                   if r["principalId"] == sp["id"] and effective(st, r)} & set(SUBSCRIPTIONS))
    if not subs and not a["allow_no_subscriptions"]:
        raise AzError("No subscriptions found for {}.".format(app_id))
    sess.update(logged_in=True, principal=sp["appId"], principal_object_id=sp["id"], subscriptions=subs,
                subscription=subs[0] if subs else None)
    entries = [account_entry(sess, s) for s in subs] or [account_entry(sess, None)]
    d = config_dir()
    if d is not None:
        write_profile(d, entries, {"client_id": sp["appId"], "tenant": TENANT, "client_secret": secret})
    return entries


# --------------------------------------------------------------------------- role-based access control
def rbac_delay():
    return int(os.environ.get("AZSIM_RBAC_DELAY", DEFAULT_RBAC_DELAY) or 0)


def effective(st, r):
    """Whether role assignment r has propagated: AZSIM_RBAC_DELAY calls made since it was created."""
    return len(st["calls"]) - r.get("created_call", -10 ** 9) > rbac_delay()


def covers(scope, target):
    s, t = scope.rstrip("/").lower(), target.rstrip("/").lower()
    return t == s or t.startswith(s + "/")


def holds(st, sess, roles, target):
    return any(r["principalId"] == sess["principal_object_id"] and r["roleDefinitionName"] in roles
               and covers(r["scope"], target) and effective(st, r) for r in st["role_assignments"])


def authorization_failed(sess, action, scope):
    return arm_error("AuthorizationFailed", "The client '{}' with object id '{}' does not have authorization to "
                     "perform action '{}' over scope '{}' or the scope is invalid. If access was recently granted, "
                     "please refresh your credentials.".format(sess["principal"], sess["principal_object_id"],
                                                               action, scope))


def data_forbidden(st):
    key = "data_forbidden"
    st["counters"][key] = st["counters"].get(key, 0) + 1
    if st["counters"][key] % 2:
        return AzError(DATA_FORBIDDEN_CLI)
    return AzError(DATA_FORBIDDEN_SERVICE.format(new_guid(), core.now_iso()))


def authorize(st, sess, path, a):
    """Refuse what a signed-in service principal may not do (a user is not judged here)."""
    if not sess.get("principal") or path.startswith(NEED_NO_ROLE):
        return
    if path.startswith("storage fs"):
        acct = st["storage_accounts"].get(a.get("account_name") or "")
        if acct is None:
            return  # the command's own not-found answer
        if a.get("auth_mode") == "login":
            if not holds(st, sess, DATA_READERS if path in STORAGE_READS else DATA_WRITERS, acct["id"]):
                raise data_forbidden(st)
        elif not holds(st, sess, KEY_LISTERS, acct["id"]):
            raise authorization_failed(sess, "Microsoft.Storage/storageAccounts/listKeys/action", acct["id"])
        return
    if core.CUR_SUB is None:  # signed in with --allow-no-subscriptions and no subscription: the tenant's id
        raise arm_error("SubscriptionNotFound", "The subscription '{}' could not be found.".format(TENANT))
    if path.startswith("ad "):
        raise AzError("Insufficient privileges to complete the operation.")
    if path in WORKSPACE_READS:
        name = a.get("workspace_name") or a.get("name")
        target = "{}/providers/Microsoft.MachineLearningServices/workspaces/{}".format(
            core.group_id(a["resource_group"]), name)
        if not holds(st, sess, WORKSPACE_READERS, target):
            raise authorization_failed(sess, "Microsoft.MachineLearningServices/workspaces/read", target)
        return
    raise authorization_failed(sess, "*/write", "/subscriptions/{}".format(core.CUR_SUB or SUB))
