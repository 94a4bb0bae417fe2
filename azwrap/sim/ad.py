"""`az ad sp ...` and `az ad app ...`: service principals and their password credentials."""
import datetime
import os
import string

from .core import AzError, F, TENANT, app_object_id, command, find_app, find_sp, new_guid, pick, warn
from .role import add_assignment, check_scope, resolve_role


SP_WARNING = ("The output includes credentials that you must protect. Be sure that you do not "
              "include these credentials in your code or check the credentials into your source "
              "control. For more information, see https://aka.ms/azadsp-cli")


def random_password():
    alphabet = string.ascii_letters + string.digits
    body = [pick(alphabet + "~._-") for _ in range(36)]
    body[os.urandom(1)[0] % len(body)] = "~"  # real secrets carry '~' (and '.', '_', '-'): callers must quote them
    return pick(string.ascii_letters) + "".join(body) + pick(string.digits)


COLLISION_NEW = "Found an existing application instance: (id) {oid}. We will patch it."
COLLISION_OLD = 'Found an existing application instance of "{app_id}". We will patch it'  # before 2.37


def new_app(st, display, with_sp=True):
    """An app registration (and, for create-for-rbac, its service principal): new ids each time."""
    seq = st["counters"]["apps_made"] = st["counters"].get("apps_made", 0) + 1  # the state file sorts keys
    app = {"appId": new_guid(), "tenant": TENANT, "displayName": display, "id": new_guid(), "seq": seq,
           "appObjectId": new_guid(), "sp": with_sp, "passwords": [], "password": None}
    st["service_principals"][app["appId"]] = app
    return app


def rbac_display_name(st):
    """`azure-cli-<UTC time to the second>`; AZSIM_RBAC_COLLISION: the same second as the newest such app
    (another run's, in this tenant; one made by "someone else" just before, when there is none)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    display = "azure-cli-" + now.strftime("%Y-%m-%d-%H-%M-%S")
    if not os.environ.get("AZSIM_RBAC_COLLISION"):
        # No collision by chance (tests stay deterministic): a second taken already is as if the clock moved on.
        taken = {x["displayName"] for x in st["service_principals"].values()}
        while display in taken:
            now += datetime.timedelta(seconds=1)
            display = "azure-cli-" + now.strftime("%Y-%m-%d-%H-%M-%S")
        return display
    earlier = sorted((x for x in st["service_principals"].values() if x["displayName"].startswith("azure-cli-")),
                     key=lambda x: x.get("seq", 0))
    if earlier:
        return earlier[-1]["displayName"]
    other = new_app(st, display)  # someone else's run in the same second, with its own secret
    add_password(other, "rbac", years_from_now(1))
    return display


@command("ad sp create-for-rbac", [F("--name -n --display-name"), F("--role"), F("--scopes", kind="multi"),
                                   F("--years"), F("--create-cert", kind="bool"), F("--cert"),
                                   F("--skip-assignment", kind="bool"), F("--sdk-auth", kind="tri")])
def cmd_sp_create_for_rbac(st, a, ctx):
    if bool(a["role"]) != bool(a["scopes"]):
        raise AzError("usage error: To create role assignments, specify both --role and --scopes.")
    role = resolve_role(a["role"]) if a["role"] else None
    for scope in a["scopes"] or []:
        check_scope(st, scope)
    display = a["name"] or rbac_display_name(st)
    same = sorted((x for x in st["service_principals"].values() if x["displayName"] == display),
                  key=lambda x: x.get("seq", 0))
    if len(same) > 1:
        raise AzError("More than one application have the same display name '{}': (id) {}, please remove them "
                      "first.".format(display, ", ".join(app_object_id(x) for x in same)))
    if same:  # az patches the app of that display name: its passwords go, a new one comes; same appId
        sp = same[0]
        text = COLLISION_OLD if os.environ.get("AZSIM_RBAC_COLLISION") == "old" else COLLISION_NEW
        warn(ctx, text.format(oid=app_object_id(sp), app_id=sp["appId"]))
        sp["sp"] = True  # and makes its service principal if it had none
        sp["passwords"] = []
    else:
        sp = new_app(st, display)
    add_password(sp, "rbac", years_from_now(int(a["years"] or 1)))
    for scope in a["scopes"] or []:
        add_assignment(st, sp, role, scope)
    warn(ctx, SP_WARNING)
    return {"appId": sp["appId"], "displayName": sp["displayName"], "password": sp["password"], "tenant": TENANT}


@command("ad app create", [F("--display-name", req=True), F("--sign-in-audience")])
def cmd_app_create(st, a, ctx):
    """A new app registration every time (display names are not unique), without a service principal."""
    return app_json(new_app(st, a["display_name"], with_sp=False))


def app_json(app):
    return {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications/$entity",
            "appId": app["appId"], "displayName": app["displayName"], "id": app_object_id(app),
            "keyCredentials": [], "passwordCredentials": [credential_json(c) for c in app.get("passwords") or []],
            "publisherDomain": "example.com", "signInAudience": "AzureADMyOrg"}


def years_from_now(years):
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.replace(year=now.year + years, day=min(now.day, 28))


def iso(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_credential(secret, display, end):
    return {"keyId": new_guid(), "secret": secret, "displayName": display, "hint": secret[:3],
            "startDateTime": iso(datetime.datetime.now(datetime.timezone.utc)), "endDateTime": iso(end)}


def add_password(app, display, end):
    """A new password credential on the app; its secret is the app's latest."""
    app["password"] = random_password()
    app["passwords"] = list(app.get("passwords") or []) + [new_credential(app["password"], display, end)]
    return app["password"]


def credential_json(c):
    """A password credential as Graph returns it (az prints it unchanged): never the secret."""
    return {"customKeyIdentifier": None, "displayName": c["displayName"], "endDateTime": c["endDateTime"],
            "hint": c["hint"], "keyId": c["keyId"], "secretText": None, "startDateTime": c["startDateTime"]}


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
    """Graph's servicePrincipal unchanged: `id` is the principal's own object id (not the app's)."""
    sp = find_sp(st, a["id"])
    if sp is None:
        raise sp_missing(a["id"])
    return {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals/$entity",
            "accountEnabled": True, "appDisplayName": sp["displayName"], "appId": sp["appId"],
            "appOwnerOrganizationId": TENANT, "displayName": sp["displayName"], "id": sp["id"],
            "passwordCredentials": [], "servicePrincipalNames": [sp["appId"]], "servicePrincipalType": "Application",
            "signInAudience": "AzureADMyOrg"}


@command("ad sp delete", [F("--id", req=True)])
def cmd_sp_delete(st, a, ctx):
    sp = find_sp(st, a["id"])
    if sp is None:  # _resolve_service_principal's CLIError: exit 1
        raise AzError("Service principal '{}' doesn't exist".format(a["id"]))
    del st["service_principals"][sp["appId"]]


def app_missing(x):
    # The `ad app` group's graph_err_handler re-raises Graph's 404 as a plain CLIError: exit 1, not 3
    # (REFERENCE.md section 8). Only `ad app show` / `ad sp show` exit 3.
    return AzError("Resource '{}' does not exist or one of its queried reference-property objects are not "
                   "present.".format(x), 1)


def require_app(st, ident):
    app = find_app(st, ident)
    if app is None:
        raise app_missing(ident)
    return app


@command("ad app show", [F("--id", req=True)])
def cmd_app_show(st, a, ctx):
    app = find_app(st, a["id"])
    if app is None:
        raise sp_missing(a["id"])  # a show command: exit 3
    return app_json(app)


@command("ad app delete", [F("--id", req=True)])
def cmd_app_delete(st, a, ctx):
    """Deletes the app and its service principal (soft-deleted in the directory), not its role assignments."""
    app = require_app(st, a["id"])
    del st["service_principals"][app["appId"]]
    st.setdefault("deleted_apps", []).append(app["appId"])


@command("ad app credential reset", [F("--id", req=True), F("--append", kind="bool"), F("--years", kind="int"),
                                     F("--end-date"), F("--display-name"), F("--cert"),
                                     F("--create-cert", kind="bool"), F("--keyvault")])
def cmd_app_credential_reset(st, a, ctx):
    """Without --append every password goes first (one by one: not atomic), then one is added. Prints
    appId, password, tenant: no keyId (az-facts section 8); --display-name names it (else null)."""
    if a["years"] is not None and a["end_date"] is not None:
        raise AzError("usage error: --years | --end-date")
    sp = require_app(st, a["id"])
    if a["end_date"]:
        try:
            end = datetime.datetime.fromisoformat(a["end_date"].replace("Z", "+00:00"))
        except ValueError:
            raise AzError("Invalid --end-date '{}': use ISO 8601, e.g. 2027-12-31.".format(a["end_date"]))
        if end.tzinfo is None:
            end = end.replace(tzinfo=datetime.timezone.utc)
    else:
        end = years_from_now(a["years"] if a["years"] is not None else 1)
    if not a["append"]:
        # az removes the passwords one by one, then adds the new one: not atomic. A fault injected with
        # AZSIM_RESET_FAIL_AFTER_REMOVE leaves the app with no password at all, as a failure there would.
        sp["passwords"] = []
        if os.environ.get("AZSIM_RESET_FAIL_AFTER_REMOVE"):
            sp["password"] = None
            err = AzError("(ServiceUnavailable) injected failure after removing the old passwords")
            err.keep_changes = True  # what was removed stays removed
            raise err
    add_password(sp, a["display_name"], end)
    warn(ctx, SP_WARNING)
    return {"appId": sp["appId"], "password": sp["password"], "tenant": TENANT}


def app_replication_lag(st, app, ident):
    """AZSIM_GRAPH_APP_DELAY=K: the first K reads of each app fail as Graph's not-found (exit 1), as a
    new app replicates (role assignments have their own, AZSIM_GRAPH_DELAY)."""
    delay = int(os.environ.get("AZSIM_GRAPH_APP_DELAY", "0") or 0)
    key = "replication:app:{}".format(app["appId"])
    attempts = st["counters"].get(key, 0)
    if attempts < delay:
        st["counters"][key] = attempts + 1
        raise app_missing(ident)  # the attempt is counted: counters survive a failed call


@command("ad app credential list", [F("--id", req=True), F("--cert", kind="bool")])
def cmd_app_credential_list(st, a, ctx):
    sp = require_app(st, a["id"])
    app_replication_lag(st, sp, a["id"])
    if a["cert"]:
        return []
    return [credential_json(c) for c in sp.get("passwords") or []]


@command("ad app credential delete", [F("--id", req=True), F("--key-id", req=True), F("--cert", kind="bool")])
def cmd_app_credential_delete(st, a, ctx):
    """Graph's removePassword: that one password goes (its secret stops working); prints nothing. An
    unknown key id: az does not check, Graph's answer is not documented; the sim takes the harsher case,
    exit 1 (the wording is the sim's, after az's own for --cert)."""
    sp = require_app(st, a["id"])
    if a["cert"]:
        raise AzError("No key credential found with keyId as '{}'.".format(a["key_id"]))
    kept = [c for c in sp.get("passwords") or [] if c["keyId"].lower() != a["key_id"].lower()]
    if len(kept) == len(sp.get("passwords") or []):
        raise AzError("No password credential found with keyId as '{}'.".format(a["key_id"]))
    sp["passwords"] = kept
    sp["password"] = kept[-1]["secret"] if kept else None
