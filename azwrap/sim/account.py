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
