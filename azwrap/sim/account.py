"""`az login`, `az logout`, `az account ...`: the signed-in user and the subscriptions."""
import datetime
import os
import time

from .core import AzError, F, SUB, SUBSCRIPTIONS, TENANT, arm_error, command, new_guid, norm_location
from .principal import (PROFILE, SP_ENTRIES, account_entry, config_dir, login_service_principal, session,
                        visible_subscriptions, write_profile)


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


# What az prints when another az holds the MSAL token cache's lock (REFERENCE.md section 8): az reports an
# unexpected error with the traceback, whose last line names the exception (an OSError shows its file
# name's repr: Windows' backslashes doubled). Only the texts REFERENCE quotes are az's; the traceback's
# file lines and the tail of the msal-extensions line are made up around them.
UNEXPECTED = "The command failed with an unexpected error. Here is the traceback:"
TOKEN_LOCK_ERRORS = {
    "windows": ["[Errno 13] Permission denied: 'C:\\\\Users\\\\me\\\\.azure\\\\msal_token_cache.bin.lockfile'",
                "Traceback (most recent call last):",
                '  File "D:\\a\\_work\\1\\s\\build_scripts\\windows\\artifacts\\cli\\Lib\\site-packages\\'
                'msal_extensions\\cache_lock.py", line 38, in __init__',
                "PermissionError: [Errno 13] Permission denied: "
                "'C:\\\\Users\\\\me\\\\.azure\\\\msal_token_cache.bin.lockfile'"],
    "portalocker": ["[Errno 11] Resource temporarily unavailable",
                    "Traceback (most recent call last):",
                    '  File "/opt/az/lib/python3.12/site-packages/portalocker/portalocker.py", line 118, in lock',
                    "portalocker.exceptions.LockException: [Errno 11] Resource temporarily unavailable"],
    "msal": ["Unable to obtain lock, despite trying for 5 second(s). You may want to delete the "
             "msal_token_cache.bin.lockfile file."],
}


def token_lock_error(st, raw_argv):
    """AZSIM_TOKEN_LOCK=windows|portalocker|msal: the first AZSIM_TOKEN_LOCK_COUNT (default 1) calls that need
    a token (and whose argv holds AZSIM_TOKEN_LOCK_MATCH, when set) fail on the token cache's lock, after
    az has read their @file arguments and before it sends anything."""
    kind = os.environ.get("AZSIM_TOKEN_LOCK")
    match = os.environ.get("AZSIM_TOKEN_LOCK_MATCH", "")
    if kind not in TOKEN_LOCK_ERRORS or match not in " ".join(raw_argv):
        return None
    key = "token_lock:" + match
    st["counters"][key] = st["counters"].get(key, 0) + 1
    if st["counters"][key] > int(os.environ.get("AZSIM_TOKEN_LOCK_COUNT") or 1):
        return None
    first, *rest = TOKEN_LOCK_ERRORS[kind]
    return AzError(UNEXPECTED, 1, ["ERROR: " + first, *rest, "To check existing issues, please visit: "
                                   "https://github.com/Azure/azure-cli/issues"])


@command("login", [F("--use-device-code", kind="bool"), F("--tenant -t"), F("--service-principal", kind="bool"),
                   F("--username -u"), F("--password -p"), F("--identity", kind="bool"),
                   F("--allow-no-subscriptions", kind="bool"), F("--scope")], no_login=True)
def cmd_login(st, a, ctx):
    sess = session(st)
    if a["service_principal"]:
        return login_service_principal(st, a, sess)
    sess["logged_in"] = True
    sess["subscription"] = sess.get("subscription") or SUB
    for key in ("principal", "principal_object_id", "subscriptions"):
        sess.pop(key, None)
    if os.environ.get("AZSIM_TOKEN_EXPIRED") == "1":
        sess["fresh_sign_in"] = True  # signed in again after the expiry: AZSIM_TOKEN_EXPIRED no longer applies
    entries = [account_entry(sess, SUB)]
    if config_dir() is not None:
        write_profile(config_dir(), entries)
    return entries


@command("logout", [F("--username")])
def cmd_logout(st, a, ctx):
    session(st)["logged_in"] = False
    if config_dir() is not None:
        for name in (PROFILE, SP_ENTRIES):
            if os.path.exists(os.path.join(config_dir(), name)):
                os.remove(os.path.join(config_dir(), name))


def find_subscription(ident, sess=None):
    """A subscription by id or name, among those this sign-in knows."""
    known = visible_subscriptions(sess) if sess is not None else list(SUBSCRIPTIONS)
    for sub_id in known:
        if ident.lower() in (sub_id, SUBSCRIPTIONS[sub_id].lower()):
            return sub_id
    raise AzError("Subscription '{}' not found. Check the spelling and casing and try again.".format(ident))


def subscription_json(sess, sub_id):
    out = account_entry(sess, sub_id)
    out["environmentName"] = out.pop("cloudName")
    return out


# `az account show` takes --name/--subscription as its own option: which subscription to show.
@command("account show", [F("--name -n --subscription -s")], no_subscription=True)
def cmd_account_show(st, a, ctx):
    sess = session(st)
    return subscription_json(sess, find_subscription(a["name"], sess) if a["name"] else sess["subscription"])


@command("account set", [F("--name -n --subscription -s", req=True)], no_subscription=True)
def cmd_account_set(st, a, ctx):
    sess = session(st)
    sess["subscription"] = find_subscription(a["name"], sess)


@command("account list", [F("--all", kind="bool"), F("--refresh", kind="bool")], no_subscription=True)
def cmd_account_list(st, a, ctx):
    sess = session(st)
    return [subscription_json(sess, sub_id) for sub_id in visible_subscriptions(sess)]


def sign_in_expired(sess):
    return os.environ.get("AZSIM_TOKEN_EXPIRED") == "1" and not sess.get("fresh_sign_in")


# Commands that work from the local cache alone, without a token (even on an expired sign-in).
NO_TOKEN = ("account show", "logout")


@command("account get-access-token", [F("--resource"), F("--scope", kind="multi"), F("--tenant -t"),
                                      F("--resource-type", choices=["aad-graph", "arm", "batch", "data-lake",
                                                                    "media", "ms-graph", "oss-rdbms"])])
def cmd_account_get_access_token(st, a, ctx):
    expires = int(time.time()) + 3600
    token = {"accessToken": "eyJ0eXAiOiJKV1Qi." + new_guid().replace("-", ""),
             "expiresOn": datetime.datetime.fromtimestamp(expires).strftime("%Y-%m-%d %H:%M:%S.%f"),
             "expires_on": expires, "subscription": SUB, "tenant": TENANT, "tokenType": "Bearer"}
    # AZSIM_TOKEN_EXPIRY: the expiry fields printed, "expiresOn,expires_on" by default. `expiresOn` (local time)
    # is deprecated ("will be removed in future release"); `expires_on` (POSIX seconds) came later.
    fields = os.environ.get("AZSIM_TOKEN_EXPIRY", "expiresOn,expires_on").split(",")
    return {key: value for key, value in token.items() if key not in ("expiresOn", "expires_on") or key in fields}


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
