"""`az role assignment ...`, the built-in roles, and the directory's replication lag."""
import datetime
import hashlib
import os
import re

from . import core
from .core import AzError, F, SUB, TENANT, USER, arm_error, command, find_group, find_sp, new_guid


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


def resolve_role(name):
    for role, guid in ROLES.items():
        if name.lower() in (role.lower(), guid) or name.lower().endswith("/roledefinitions/" + guid):
            return role
    raise AzError("Role '{}' doesn't exist.".format(name))


def scope_exists(st, scope):
    s = scope.rstrip("/").lower()
    ids = ["/subscriptions/" + core.CUR_SUB]
    ids += [g["id"] for g in st["groups"].values() if g.get("subscription", SUB) == core.CUR_SUB]
    ids += [x["id"] for x in st["storage_accounts"].values()]
    ids += [w["id"] for w in st["workspaces"].values()]
    return any(s == i.lower() for i in ids)


def check_scope(st, scope):
    if scope_exists(st, scope):
        return
    m = re.match(r"^/subscriptions/([^/]+)(?:/resourceGroups/([^/]+))?(?:/providers/([^/]+)/([^/]+)/([^/]+))?",
                 scope, re.I)
    if not m or m.group(1).lower() != core.CUR_SUB:
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
    guid = new_guid()  # a new name (and id) for every creation, also of the same role at the same scope
    r = {"id": "{}/providers/Microsoft.Authorization/roleAssignments/{}".format(scope, guid), "name": guid,
         "principalId": sp["id"], "appId": sp["appId"], "roleDefinitionName": role, "scope": scope,
         "created_call": len(st["calls"]),  # it applies AZSIM_RBAC_DELAY calls later (principal.effective)
         "createdOn": datetime.datetime.now(datetime.timezone.utc).isoformat()}
    st["role_assignments"].append(r)
    return r


def assignment_json(r, with_names=False, principal_name=None):
    """`role assignment create` prints the SDK model (nulls included); `list` prints _role_assignment_to_dict,
    which omits keys whose value is null, with the role's and principal's names (az-facts section 9)."""
    out = {"condition": None, "conditionVersion": None, "createdBy": None, "createdOn": r.get("createdOn"),
           "delegatedManagedIdentityResourceId": None, "description": None, "id": r["id"], "name": r["name"],
           "principalId": r["principalId"], "principalType": "ServicePrincipal",
           "roleDefinitionId": "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{}"
           .format(r["scope"].split("/")[2], ROLES[r["roleDefinitionName"]]),
           "scope": r["scope"], "type": "Microsoft.Authorization/roleAssignments", "updatedBy": None,
           "updatedOn": r.get("createdOn")}
    if with_names:
        out["createdBy"] = out["updatedBy"] = USER_OBJECT_ID
        out["principalName"] = principal_name if principal_name is not None else r["appId"]
        out["roleDefinitionName"] = r["roleDefinitionName"]
        out["resourceGroup"] = (re.findall(r"/resourceGroups/([^/]+)", r["scope"], re.I) or [None])[0]
        out = {k: v for k, v in out.items() if v is not None}
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


@command("role assignment list", [F("--assignee"), F("--assignee-object-id"), F("--scope"), F("--role"),
                                  F("--all", kind="bool"), F("--resource-group -g"),
                                  F("--include-inherited", kind="bool"),
                                  F("--include-groups", kind="bool"), F("--include-classic-administrators", kind="tri"),
                                  F("--fill-principal-name", kind="tri"), F("--fill-role-definition-name", kind="tri")])
def cmd_role_assignment_list(st, a, ctx):
    """az's list_role_assignments (az-facts section 9): --all lists the whole current subscription; else
    the scope is --scope, the group of -g, or the subscription, and only assignments AT it are listed
    (and above it with --include-inherited). --assignee is resolved in Graph (a deleted principal: exit 1);
    --assignee-object-id is not, and still lists a deleted principal's leftovers (principalName "")."""
    role = resolve_role(a["role"]) if a["role"] else None
    if a["assignee"] and a["assignee"].lower() in (USER["name"], USER_OBJECT_ID):
        # the signed-in user's roles (AZSIM_USER_ROLES), all on the subscription
        return [user_assignment_json(r) for r in user_roles() if not role or r == role]
    principal = None
    if a["assignee"]:
        sp = find_sp(st, a["assignee"])
        if sp is None:
            raise graph_not_found(a["assignee"])
        principal = sp["id"]
    elif a["assignee_object_id"]:
        principal = a["assignee_object_id"]
    subscription = "/subscriptions/" + core.CUR_SUB
    if a["scope"]:
        scope = a["scope"].rstrip("/")
    elif a["resource_group"]:
        scope = "{}/resourceGroups/{}".format(subscription, a["resource_group"])
    else:
        scope = subscription
    out = []
    for r in st["role_assignments"]:
        at = r["scope"].lower()
        if a["all"] and not (a["scope"] or a["resource_group"]):
            if not (at == subscription.lower() or at.startswith(subscription.lower() + "/")):
                continue
        elif not (at == scope.lower() or (a["include_inherited"] and scope.lower().startswith(at + "/"))):
            continue
        if role and r["roleDefinitionName"] != role:
            continue
        if principal and r["principalId"].lower() != principal.lower():
            continue
        sp = find_sp(st, r["principalId"])
        out.append(assignment_json(r, with_names=True, principal_name=sp["appId"] if sp else ""))
    return out
