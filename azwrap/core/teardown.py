"""What `azwrap destroy` deletes, decided from the state and what refresh found: a pure function.

Only what azwrap made, and only while it is still that thing: each record's identity fact (a group's
azwrap-id tag, a workspace's workspaceId, an account's creationTime, a compute's createdOn, a datastore's
client id) is compared with what is live. A thing re-created under the same name is kept, and so is a
group holding anything azwrap did not make: then azwrap's own resources in it are deleted one by one.
Every generation azwrap made (a changed setting makes a resource anew; the earlier one stays recorded)
is torn down the same way. Only another azwrap-id proves a group made again: a group whose tag is gone
(tags are replaced by `az group create`, the portal, policies) is azwrap's when something azwrap made in it
still has its identity, else kept in doubt, and its record stays. What the live workspace links to that
azwrap did not make (a registry of the user's, a shared log analytics workspace) is kept.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace

from ..book import commands as az
from ..book import ml, resources
from ..book.commands import Args, Invocation
from ..book.settings import Settings
from . import lifecycle, planning
from .facts import MISSING, UNKNOWN, Snapshot, Where, live

# Azure adds these beside a workspace's application insights, later (they are not in the workspace's JSON).
SMART_DETECTION_GROUP = "Application Insights Smart Detection"
DEPENDENT = "dependent"  # a Deletion's key for what a workspace made with it (no record of its own)
FAILURE_ANOMALIES = "Failure Anomalies - "
RETIRED_ROLES, RETIRED_APP = "retired_roles", "retired_sp"  # a replaced principal's role assignments, its app
# ARM makes a workspace's storage, key vault, insights (and log analytics) just before the workspace itself.
MADE_WITH_MARGIN = datetime.timedelta(hours=1)
OURS, THEIRS, DOUBT, GONE = "ours", "theirs", "doubt", "gone"


@dataclass(frozen=True)
class Deletion:
    key: str  # the resource it deletes
    label: str
    args: Args
    covers: tuple[tuple[str, int | None], ...] = ()  # (resource, generation) that go with it (a group's content)
    slow: bool = False  # a resource group: minutes
    fallback: Args | None = None  # run when args answers "not found" (an already soft-deleted workspace)
    generation: int | None = None  # None: the current record; else its index in state["earlier"]
    forget: bool = True  # False: its record stays until the group it is in goes (what it made is in the group)
    app_id: str | None = None  # a principal's (the current one, or a replaced one still to delete)


@dataclass(frozen=True)
class Teardown:
    deletions: list[Deletion]
    kept: list[tuple[str, str]]  # (what, why)
    left: list[tuple[str, str]] = field(default_factory=list)  # azwrap's, not deleted: (what, the command that would)
    doubtful: list[tuple[str, int | None]] = field(default_factory=list)  # kept in doubt: (key, generation), still recorded
    data: list[str] = field(default_factory=list)  # the user's data in azwrap's storage accounts, deleted with them

    def invocations(self) -> list[Invocation]:
        return [Invocation("destroy", deletion.args) for deletion in self.deletions]


@dataclass(frozen=True)
class Made:
    """One resource record: the current one (generation None) or an earlier generation's."""

    key: str
    record: dict
    settings: Settings
    generation: int | None

    @property
    def label(self) -> str:
        return resources.BY_KEY[self.key].label(self.settings)


def generations(state: dict, settings: Settings) -> list[Made]:
    """Every record of what the setup used: the current ones, then the earlier generations'."""
    made = [Made(key, record, planning.recorded_settings(settings, record), None)
            for key, record in state["resources"].items() if key in resources.BY_KEY]  # fmt: skip
    for index, entry in enumerate(state.get("earlier", [])):
        record = entry.get("record", {})
        if entry.get("key") in resources.BY_KEY and not entry.get("deleted"):
            made.append(Made(entry["key"], record, planning.recorded_settings(settings, record), index))
    return made


def plan(state: dict, settings: Settings, subscription_id: str, snapshot: Snapshot | None = None) -> Teardown:
    """What destroy deletes, keeps and leaves. Without a snapshot (`azwrap plan --destroy`) nothing is
    checked: every record is taken as there and azwrap's."""
    checked = _Checked(state, settings, subscription_id, snapshot)
    everything = generations(state, settings)
    kept = [(item.label, why) for item in everything if (why := checked.not_ours(item))]
    doubtful = [_id(item) for item in everything if checked.verdict(item)[0] == DOUBT]
    mine = [item for item in everything if checked.ours(item)]
    gone_with: dict[tuple, str] = {}
    deletions = _roles(mine)
    whole = _whole_groups(checked, mine, everything, kept)
    for item in (i for i in mine if i.key == "workspace"):
        foreign = checked.links(item)[1]
        kept += [entry for entry in foreign if entry not in kept]
        if checked.group_of(item) in whole:  # purged first (a group's delete only soft-deletes it); the rest goes with the group
            deletions.append(replace(_workspace_deletion(item, subscription_id, not foreign), forget=False))
        else:
            deletions += _workspace_with_dependents(item, subscription_id, checked)
        gone_with.update({_id(m): item.label for m in mine if m.key in ("compute", "datastore") and
                          checked.group_of(m) == checked.group_of(item) and m.settings.workspace == item.settings.workspace})
    for item in mine:
        if item.key in ("compute", "datastore") and _id(item) not in gone_with and checked.group_of(item) not in whole:
            deletions.append(_inside_workspace(item))
    storage = [i for i in mine if i.key in ("account", "filesystem", "upload") and checked.group_of(i) not in whole]
    deletions += _storage(storage, gone_with)
    for name, group in whole.items():
        inside = [m for m in mine if m is not group and checked.group_of(m) == name and m.key not in resources.ROLE_KEYS]
        deletions.append(Deletion(group.key, group.label, az.group_delete(name), slow=True, generation=group.generation,
                                  covers=tuple(_id(m) for m in inside)))
        gone_with.update({_id(m): group.label for m in inside})
    deletions += _principal(state, mine) + _retired(state)
    deleted = {(d.key, d.generation) for d in deletions}
    for item in mine:
        if (item.key, item.generation) not in deleted and _id(item) in gone_with:
            kept.append((item.label, f"deleted with {gone_with[_id(item)]}"))
    kept += [(item.label, "yours: it existed before azwrap used it") for item in everything
             if not item.record.get("created") and item.key not in resources.ROLE_KEYS]
    return Teardown(deletions, kept, checked.left + _lost_answers(state, settings), doubtful, checked.data(mine))


def _lost_answers(state: dict, settings: Settings) -> list[tuple[str, str]]:
    """What a creating call whose answer was lost may have made (core/record.py, pending): not recorded, so not
    deleted; said, with where to look."""
    out = []
    for key, entry in (state.get("pending") or {}).items():
        if key == "sp" or key not in resources.BY_KEY:
            continue
        named = planning.recorded_settings(settings, entry)
        group = getattr(named, resources.container(key) or "", None)
        look = ("group", "show", "--name", group) if key in resources.GROUP_KEYS else \
            ("resource", "list", "--resource-group", str(group), "--output", "table")  # fmt: skip
        out.append((f"{resources.BY_KEY[key].label(named)}, if a run whose answer was lost (begun {entry.get('started')}) "
                    "made it", az.line(look)))  # fmt: skip
    sp = (state.get("pending") or {}).get("sp") or {}
    for started in [*state.get("lost_apps", []), *([sp["started"]] if sp.get("started") else [])]:
        out.append((f"an app az ad sp create-for-rbac may have made (begun {started}; its answer was lost), with a "
                    "secret azwrap never saw", lifecycle.lost_app_command(started)))  # fmt: skip
    return out


def _whole_groups(checked: _Checked, mine: list[Made], everything: list[Made], kept: list) -> dict[str, Made]:
    """The groups azwrap made that hold nothing of anyone else's: deleted whole (the others are kept)."""
    whole = {}
    for group in (item for item in mine if item.key in resources.GROUP_KEYS):
        name = checked.name(group)
        foreign = [f"{i.label} (yours)" for i in everything if not i.record.get("created")
                   and i.key not in resources.ROLE_KEYS and checked.group_of(i) == name] + checked.foreign(group, mine)
        if foreign:
            kept.append((group.label, "azwrap made it, but it holds resources azwrap did not make: " + ", ".join(foreign)))
        else:
            whole[name] = group
    return whole


def _id(item: Made) -> tuple:
    return (item.key, item.generation)


def _group_prefix(subscription_id: str, group: str) -> str:
    return f"/subscriptions/{subscription_id}/resourcegroups/{group}/".lower()


class _Checked:
    """Each record held against what is live: gone, re-created by someone, in doubt, or still azwrap's."""

    def __init__(self, state: dict, settings: Settings, subscription_id: str, snapshot: Snapshot | None):
        self.state, self.settings, self.subscription_id, self.snapshot = state, settings, subscription_id, snapshot
        self.left: list[tuple[str, str]] = []
        self._verdicts: dict[tuple, tuple[str, str | None]] = {}

    def where(self, item: Made) -> Where:
        return Where(item.key, item.settings, self.subscription_id,
                     app_id=self.state["outputs"].get("sp", {}).get("appId"), assignment_id=item.record.get("id"))

    def live(self, item: Made):
        if self.snapshot is None or item.key in (*resources.ROLE_KEYS, "sp", "filesystem", "upload"):
            return UNKNOWN
        return live(self.snapshot, self.where(item))

    def verdict(self, item: Made) -> tuple[str, str | None]:
        """(OURS | THEIRS | DOUBT | GONE, why) of a record azwrap made."""
        if _id(item) not in self._verdicts:
            self._verdicts[_id(item)] = self._verdict(item)
        return self._verdicts[_id(item)]

    def _verdict(self, item: Made) -> tuple[str, str | None]:
        found = self.live(item)
        if found is MISSING:
            return GONE, None  # gone already: nothing to delete
        same = None if found is UNKNOWN else resources.same_identity(item.key, item.record.get("identity"), found)
        if same is False:
            return THEIRS, "not the one azwrap made: it was made again under the same name (its identity differs), so it is yours"
        if same is True or (same is None and item.key in resources.GROUP_KEYS and item.record.get("identity")
                            and self.proven_by_content(item)):  # fmt: skip
            return OURS, None
        if same is None and item.key in resources.GROUP_KEYS and item.record.get("identity") and found is not UNKNOWN:
            return DOUBT, ("its azwrap-id tag is gone (`az group create` on it, the portal or a tag policy replaces a "
                           "group's tags) and nothing azwrap made in it is left to prove it is the one azwrap made: "
                           "kept, and still recorded")  # fmt: skip
        holder = self.container(item)
        if holder is not None and holder.record.get("created"):
            held = self.verdict(holder)[0]
            if held == GONE:
                return GONE, None  # what it was in is gone: so is it
            if held == THEIRS:
                return THEIRS, f"it is in {holder.label}, which was made again under the same name: it is yours"
            if held == DOUBT:
                return DOUBT, f"it is in {holder.label}, which azwrap cannot tell is the one it made: kept, and still recorded"
        return OURS, None

    def proven_by_content(self, group: Made) -> bool:
        """A group whose tag is gone is the one azwrap made when something azwrap made in it still has its
        identity (a group made again cannot hold the workspace or account azwrap made)."""
        name = self.name(group).lower()
        for item in generations(self.state, self.settings):
            if item.key in resources.ARM_KEYS and item.record.get("created") and item.record.get("identity") \
                    and (self.group_of(item) or "").lower() == name:  # fmt: skip
                found = self.live(item)
                if isinstance(found, dict) and resources.same_identity(item.key, item.record["identity"], found):
                    return True
        return False

    def not_ours(self, item: Made) -> str | None:
        """Why a record azwrap made is not deleted (None: it is, or it is not azwrap's at all)."""
        if not item.record.get("created"):
            return None
        verdict, why = self.verdict(item)
        return why if verdict in (THEIRS, DOUBT) else None

    def container(self, item: Made) -> Made | None:
        """The record of what item lives in (a filesystem's account...), by the names they share."""
        parent = resources.BY_KEY[item.key].inside
        if parent is None or item.key in resources.ROLE_KEYS:
            return None
        names = resources.BY_KEY[parent].uses
        return next((m for m in generations(self.state, self.settings) if m.key == parent
                     and all(getattr(m.settings, n) == getattr(item.settings, n) for n in names)), None)

    def ours(self, item: Made) -> bool:
        return bool(item.record.get("created")) and self.verdict(item)[0] == OURS

    def name(self, item: Made) -> str:
        return getattr(item.settings, item.key)

    def group_of(self, item: Made) -> str | None:
        group = resources.container(item.key)
        return getattr(item.settings, group) if group else None

    def foreign(self, group: Made, mine: list[Made]) -> list[str]:
        """What the group holds that azwrap did not make (its workspaces' own resources are azwrap's, also
        once the workspace is purged: a teardown interrupted there); records of the user's are listed apart."""
        if self.snapshot is None:
            return []
        everything = generations(self.state, self.settings)
        mine = [*mine, *(i for i in everything if i.key == "workspace" and i.record.get("created") and self.live(i) is MISSING)]
        contents = self.snapshot.contents.get(self.name(group).lower())
        if contents is None:
            return []
        ours = {resources.arm_id(i.key, i.settings, self.subscription_id).lower() for i in everything
                if i.key in resources.ARM_KEYS and (i in mine or not i.record.get("created"))}  # fmt: skip
        made_with = [d for i in mine if i.key == "workspace" for d in self.links(i)[0]]
        ours |= {d.lower() for d in made_with}
        workspaces = [resources.arm_id("workspace", i.settings, self.subscription_id).lower()
                      for i in mine if i.key == "workspace"]  # fmt: skip
        insights = {d.rsplit("/", 1)[-1].lower() for d in made_with if "/components/" in d.lower()}
        out = []
        for entry in contents:
            rid = str(entry.get("id", "")).lower()
            name = str(entry.get("name", ""))
            if rid in ours or any(rid.startswith(w + "/") for w in workspaces):
                continue
            if name == SMART_DETECTION_GROUP and insights or any(name == FAILURE_ANOMALIES + i for i in insights) or (
                    name.lower().startswith(FAILURE_ANOMALIES.lower()) and name[len(FAILURE_ANOMALIES):].lower() in insights):
                continue  # Azure made these for azwrap's application insights
            out.append(f"{entry.get('type', 'resource')} {name}")
        return out

    def smart_detection(self, workspace: Made, dependents: list[str]) -> list[dict]:
        """The alert rule Azure added for the workspace's insights, and the group's smart detection action
        group when no other insights in the group could use it."""
        contents = (self.snapshot.contents if self.snapshot else {}).get(workspace.settings.aml_group.lower()) or []
        insights = {d.rsplit("/", 1)[-1].lower() for d in dependents if "/components/" in d.lower()}
        if not insights:
            return []
        others = [e for e in contents if str(e.get("type", "")).lower() == "microsoft.insights/components"
                  and str(e.get("name", "")).lower() not in insights]  # fmt: skip
        return [e for e in contents if str(e.get("name", "")).lower() in {(FAILURE_ANOMALIES + i).lower() for i in insights}
                or (e.get("name") == SMART_DETECTION_GROUP and not others)]  # fmt: skip

    def links(self, workspace: Made) -> tuple[list[str], list[tuple[str, str]]]:
        """What the workspace made with it (recorded at its creation; the log analytics behind its insights and a
        registry Azure ML added, when in its group and made with or after it), and what the live workspace links
        to that someone else made: (what, why) kept."""
        made = list(workspace.record.get("dependents", []))
        if self.snapshot is None:
            return made, []
        foreign: list[tuple[str, str]] = []
        born = self.created(resources.arm_id("workspace", workspace.settings, self.subscription_id))
        for dependent in list(made):
            found = self.snapshot.arm.get(dependent.lower())
            target = ((found or {}).get("properties") or {}).get("WorkspaceResourceId")
            if not target or target.lower() in {m.lower() for m in made}:
                continue
            if self.made_with(workspace, target, born):
                made.append(target)
            else:
                foreign.append((f"log analytics workspace {target.rsplit('/', 1)[-1]} (behind the application insights "
                                f"of {workspace.label})", "shared; not made by azwrap: kept"))  # fmt: skip
        found = self.live(workspace)
        for link in resources.dependents_of(found) if isinstance(found, dict) else []:
            if link.lower() in {m.lower() for m in made}:
                continue
            if _kind(link) == "container registry" and self.made_with(workspace, link, born):
                made.append(link)  # Azure ML made it for the workspace (its first image build)
                continue
            foreign.append((f"{_kind(link)} {link.rsplit('/', 1)[-1]}",
                            f"{workspace.label} links to it, but azwrap did not make it: kept"))  # fmt: skip
        return made, foreign

    def made_with(self, workspace: Made, resource_id: str, born) -> bool:
        """In the workspace's own group, and made no earlier than the workspace (an unknown time proves nothing:
        kept, as someone else's may be)."""
        if not resource_id.lower().startswith(_group_prefix(self.subscription_id, workspace.settings.aml_group)):
            return False
        made = self.created(resource_id)
        return born is not None and made is not None and made >= born - MADE_WITH_MARGIN

    def created(self, resource_id: str):
        """When the resource was made, where the snapshot tells (ARM's systemData, a creation property, or the
        group listing's createdTime); None: unknown."""
        found = (self.snapshot.arm if self.snapshot else {}).get(resource_id.lower())
        candidates = []
        if isinstance(found, dict):
            properties = found.get("properties") if isinstance(found.get("properties"), dict) else {}
            candidates += [(found.get("systemData") or {}).get("createdAt"), properties.get("creationDate"),
                           properties.get("creationTime"), properties.get("CreationDate")]  # fmt: skip
        for entries in (self.snapshot.contents.values() if self.snapshot else ()):
            candidates += [e.get("createdTime") for e in entries or () if str(e.get("id", "")).lower() == resource_id.lower()]
        for text in candidates:
            when = resources.moment(text) if isinstance(text, str) and text else None
            if isinstance(when, datetime.datetime):
                return when
        return None

    def data(self, mine: list[Made]) -> list[str]:
        """For each of azwrap's storage accounts holding what azwrap did not put there: a line saying so."""
        out = []
        for account in (i for i in mine if i.key == "account"):
            found = (self.snapshot.storage if self.snapshot else {}).get(account.settings.account.lower())
            if not found:
                continue
            ours_fs = {i.settings.filesystem for i in mine if i.key == "filesystem" and i.settings.account == account.settings.account}
            uploads = {(i.settings.filesystem, i.settings.upload_path.strip("/")) for i in mine if i.key == "upload"
                       and i.settings.account == account.settings.account}  # fmt: skip
            files = [(fs, path) for fs, paths in found.get("files", {}).items() if fs in ours_fs for path in paths
                     if (fs, path.strip("/")) not in uploads]  # fmt: skip
            filesystems = [fs for fs in found.get("filesystems", []) if fs not in ours_fs]
            if files or filesystems:
                out.append(f"storage account {account.settings.account} holds {_count(len(files), 'file')} and "
                           f"{_count(len(filesystems), 'filesystem')} besides azwrap's upload: they are deleted with it")
        return out


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _roles(mine: list[Made]) -> list[Deletion]:
    return [Deletion(item.key, item.label, az.role_assignment_delete([item.record["id"]]), generation=item.generation)
            for item in mine if item.key in resources.ROLE_KEYS and item.record.get("id")]  # fmt: skip


def _workspace_deletion(item: Made, subscription_id: str, all_resources: bool = True) -> Deletion:
    """Purged, so that its name can be used again at once (a plain delete keeps it for 14 days)."""
    s = item.settings
    purge = az.workspace_purge(az.workspace_id(subscription_id, s))
    if item.record.get("dialect") == "v2":
        # v2 purges, and with --all-resources deletes the storage, key vault, insights (and its log analytics) and
        # registry the workspace links to, whoever made them; it cannot find a workspace already soft-deleted
        # (exit 3): then the ARM purge does.
        return Deletion("workspace", item.label, ml.v2_workspace_delete(s, all_resources), fallback=purge,
                        generation=item.generation)  # fmt: skip
    return Deletion("workspace", item.label, purge, generation=item.generation)


def _workspace_with_dependents(item: Made, subscription_id: str, checked: _Checked) -> list[Deletion]:
    """A workspace whose group stays: what it made with it deleted by id first (v2's --all-resources does it
    when the workspace links to nothing of anyone else's; v1 cannot), then the workspace purged, so that an
    interrupted teardown still knows them."""
    out = []
    dependents, foreign = checked.links(item)
    if not dependents and "dependents" not in item.record:
        group = item.settings.aml_group
        checked.left.append((f"what {item.label} made with it (storage account, key vault, application insights; "
                             "not recorded by an older azwrap)",
                             az.line(("resource", "list", "--resource-group", group, "--output", "table"))))  # fmt: skip
    all_resources = item.record.get("dialect") == "v2" and not foreign
    if not all_resources:
        for dependent in dependents:
            out.append(Deletion(DEPENDENT, f"{_kind(dependent)} {dependent.rsplit('/', 1)[-1]} (made with {item.label})",
                                az.resource_delete([dependent])))  # fmt: skip
    for entry in checked.smart_detection(item, dependents):  # Azure made them for its insights; no --all-resources does
        out.append(Deletion(DEPENDENT, f"{entry['name']} (Azure made it for {item.label}'s application insights)",
                            az.resource_delete([entry["id"]])))  # fmt: skip
    return [*out, _workspace_deletion(item, subscription_id, all_resources)]


def _kind(resource_id: str) -> str:
    kinds = {"storageaccounts": "storage account", "vaults": "key vault", "components": "application insights",
             "workspaces": "log analytics workspace", "registries": "container registry"}  # fmt: skip
    return kinds.get(resource_id.rstrip("/").split("/")[-2].lower(), "resource")


def _inside_workspace(item: Made) -> Deletion:
    dialect = ml.DIALECTS[item.settings.ml_cli]
    builder = dialect.datastore_delete if item.key == "datastore" else dialect.compute_delete
    return Deletion(item.key, item.label, builder(item.settings), generation=item.generation)


def _storage(items: list[Made], gone_with: dict) -> list[Deletion]:
    """In a group that stays: the outermost of account, filesystem, file that azwrap made takes the rest."""
    out = []
    builders = {"account": az.storage_account_delete, "filesystem": az.storage_fs_delete,
                "upload": az.storage_fs_file_delete}  # fmt: skip
    inner = {"account": ("filesystem", "upload"), "filesystem": ("upload",), "upload": ()}
    for item in sorted(items, key=lambda i: ("account", "filesystem", "upload").index(i.key)):
        if _id(item) in gone_with:
            continue
        covered = [other for other in items if other.key in inner[item.key] and all(
            getattr(other.settings, n) == getattr(item.settings, n) for n in resources.BY_KEY[item.key].uses)]
        out.append(Deletion(item.key, item.label, builders[item.key](item.settings), covers=tuple(map(_id, covered)),
                            generation=item.generation))  # fmt: skip
        gone_with.update({_id(other): item.label for other in covered})
    return out


def _principal(state: dict, mine: list[Made]) -> list[Deletion]:
    app_id = state["outputs"].get("sp", {}).get("appId")
    records = state["resources"]
    if not app_id or not (records.get("sp", {}).get("created") or "sp" not in records):
        return []
    # Deleting the app registration deletes its principal and the secret (soft-deleted for 30 days).
    return [Deletion("sp", resources.BY_KEY["sp"].label(Settings()) + f" {app_id}", az.ad_app_delete(app_id), app_id=app_id)]


def _retired(state: dict) -> list[Deletion]:
    """The principals azwrap replaced but could not delete then: their role assignments, then their apps."""
    out = []
    for entry in lifecycle.retired_entries(state):
        app_id = entry["appId"]
        if entry.get("assignments"):
            out.append(Deletion(RETIRED_ROLES, f"the role assignments of the replaced service principal {app_id}",
                                az.role_assignment_delete(list(entry["assignments"])), app_id=app_id))  # fmt: skip
        if not entry.get("gone"):
            out.append(Deletion(RETIRED_APP, f"the replaced service principal {app_id} (app registration) and its secret",
                                az.ad_app_delete(app_id), app_id=app_id))  # fmt: skip
    return out


def with_subscription(teardown: Teardown, subscription_id: str) -> Teardown:
    """Every call pinned to the setup's subscription (where az accepts --subscription)."""
    pin = lambda args: az.with_subscription(args, subscription_id) if args else args  # noqa: E731
    return replace(teardown, deletions=[replace(d, args=pin(d.args), fallback=pin(d.fallback)) for d in teardown.deletions])
