"""`az ad sp ...` and `az ad app ...`: service principals and their password credentials."""
import datetime
import os
import string

from .core import AzError, F, TENANT, command, find_sp, new_guid, pick, warn
from .role import add_assignment, check_scope, resolve_role


SP_WARNING = ("The output includes credentials that you must protect. Be sure that you do not "
              "include these credentials in your code or check the credentials into your source "
              "control. For more information, see https://aka.ms/azadsp-cli")


def random_password():
    alphabet = string.ascii_letters + string.digits
    body = [pick(alphabet + "~._-") for _ in range(36)]
    body[os.urandom(1)[0] % len(body)] = "~"  # real secrets carry '~' (and '.', '_', '-'): callers must quote them
    return pick(string.ascii_letters) + "".join(body) + pick(string.digits)


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
