"""What `azwrap destroy` deletes, decided from the state and what refresh found: a pure function.

Only what azwrap made, and only while it is still that thing: each record's identity fact (a group's
azwrap-id tag, a workspace's workspaceId, an account's creationTime, a compute's createdOn, a datastore's
client id) is compared with what is live. A thing re-created under the same name is kept, and so is a
group holding anything azwrap did not make: then azwrap's own resources in it are deleted one by one.
Every generation azwrap made (a changed setting makes a resource anew; the earlier one stays recorded)
is torn down the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..book import commands as az
from ..book import ml, resources
from ..book.commands import Args, Invocation
from ..book.settings import Settings
from . import planning
from .facts import MISSING, UNKNOWN, Snapshot, Where, live

# Azure adds these beside a workspace's application insights, later (they are not in the workspace's JSON).
SMART_DETECTION_GROUP = "Application Insights Smart Detection"
DEPENDENT = "dependent"  # a Deletion's key for what a workspace made with it (no record of its own)
FAILURE_ANOMALIES = "Failure Anomalies - "


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


@dataclass(frozen=True)
class Teardown:
    deletions: list[Deletion]
    kept: list[tuple[str, str]]  # (what, why)
    left: list[tuple[str, str]] = field(default_factory=list)  # azwrap's, not deleted: (what, the command that would)

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
    deletions: list[Deletion] = []
    kept: list[tuple[str, str]] = []
    for item in generations(state, settings):
        why = checked.not_ours(item)
        if why:
            kept.append((item.label, why))
    mine = [item for item in generations(state, settings) if checked.ours(item)]
    gone_with: dict[tuple, str] = {}
    deletions += _roles(mine)
    groups = {checked.name(item): item for item in mine if item.key in resources.GROUP_KEYS}
    whole = {}  # group name -> its deletion, when nothing in it is anyone else's
    everything = generations(state, settings)
    for name, group in groups.items():
        foreign = [f"{i.label} (yours)" for i in everything if not i.record.get("created")
                   and i.key not in resources.ROLE_KEYS and checked.group_of(i) == name] + checked.foreign(group, mine)
        if foreign:
            kept.append((group.label, "azwrap made it, but it holds resources azwrap did not make: " + ", ".join(foreign)))
        else:
            whole[name] = group
    for item in (i for i in mine if i.key == "workspace"):
        if checked.group_of(item) in whole:  # purged first (a group's delete only soft-deletes it); the rest goes with the group
            deletions.append(replace(_workspace_deletion(item, subscription_id), forget=False))
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
    deletions += _principal(state, mine)
    deleted = {(d.key, d.generation) for d in deletions}
    for item in mine:
        if (item.key, item.generation) not in deleted and _id(item) in gone_with:
            kept.append((item.label, f"deleted with {gone_with[_id(item)]}"))
    kept += [(item.label, "yours: it existed before azwrap used it") for item in generations(state, settings)
             if not item.record.get("created") and item.key not in resources.ROLE_KEYS]
    return Teardown(deletions, kept, checked.left)


def _id(item: Made) -> tuple:
    return (item.key, item.generation)


class _Checked:
    """Each record held against what is live: gone, re-created by someone, or still azwrap's."""

    def __init__(self, state: dict, settings: Settings, subscription_id: str, snapshot: Snapshot | None):
        self.state, self.settings, self.subscription_id, self.snapshot = state, settings, subscription_id, snapshot
        self.left: list[tuple[str, str]] = []

    def where(self, item: Made) -> Where:
        return Where(item.key, item.settings, self.subscription_id,
                     app_id=self.state["outputs"].get("sp", {}).get("appId"), assignment_id=item.record.get("id"))

    def live(self, item: Made):
        if self.snapshot is None or item.key in (*resources.ROLE_KEYS, "sp", "filesystem", "upload"):
            return UNKNOWN
        return live(self.snapshot, self.where(item))

    def not_ours(self, item: Made) -> str | None:
        """Why a record azwrap made is not deleted (None: it is, or it is not azwrap's at all)."""
        if not item.record.get("created"):
            return None
        found = self.live(item)
        if found is MISSING:
            return None  # gone already: nothing to delete
        if found is not UNKNOWN and resources.same_identity(item.key, item.record.get("identity"), found) is False:
            return "not the one azwrap made: it was made again under the same name (its identity differs), so it is yours"
        holder = self.container(item)
        if holder is not None and self.not_ours(holder):
            return f"it is in {holder.label}, which was made again under the same name: it is yours"
        return None

    def container(self, item: Made) -> Made | None:
        """The record of what item lives in (a filesystem's account...), by the names they share."""
        parent = resources.BY_KEY[item.key].inside
        if parent is None or item.key in resources.ROLE_KEYS:
            return None
        names = resources.BY_KEY[parent].uses
        return next((m for m in generations(self.state, self.settings) if m.key == parent
                     and all(getattr(m.settings, n) == getattr(item.settings, n) for n in names)), None)

    def ours(self, item: Made) -> bool:
        if not item.record.get("created") or self.live(item) is MISSING:
            return False
        return self.not_ours(item) is None

    def name(self, item: Made) -> str:
        return getattr(item.settings, item.key)

    def group_of(self, item: Made) -> str | None:
        group = resources.container(item.key)
        return getattr(item.settings, group) if group else None

    def foreign(self, group: Made, mine: list[Made]) -> list[str]:
        """What the group holds that azwrap did not make (its workspaces' own resources are azwrap's, also
        once the workspace is purged: a teardown interrupted there)."""
        if self.snapshot is None:
            return []
        mine = [*mine, *(i for i in generations(self.state, self.settings) if i.key == "workspace"
                         and i.record.get("created") and self.live(i) is MISSING)]
        contents = self.snapshot.contents.get(self.name(group).lower())
        if contents is None:
            return []
        ours = set()
        for item in mine:
            if item.key in resources.ARM_KEYS:
                ours.add(resources.arm_id(item.key, item.settings, self.subscription_id).lower())
            if item.key == "workspace":
                ours |= {d.lower() for d in self.dependents(item)}
        workspaces = [resources.arm_id("workspace", i.settings, self.subscription_id).lower()
                      for i in mine if i.key == "workspace"]  # fmt: skip
        insights = {d.rsplit("/", 1)[-1].lower() for i in mine if i.key == "workspace" for d in self.dependents(i)
                    if "/components/" in d.lower()}  # fmt: skip
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

    def dependents(self, workspace: Made) -> list[str]:
        """What the workspace made with it: recorded at its creation; the log analytics workspace behind
        its application insights, from what refresh found of them."""
        recorded = list(workspace.record.get("dependents", []))
        if self.snapshot is not None:
            for dependent in recorded:
                found = self.snapshot.arm.get(dependent.lower())
                target = ((found or {}).get("properties") or {}).get("WorkspaceResourceId")
                if target and target not in recorded:
                    recorded.append(target)
        return recorded


def _roles(mine: list[Made]) -> list[Deletion]:
    return [Deletion(item.key, item.label, az.role_assignment_delete([item.record["id"]]), generation=item.generation)
            for item in mine if item.key in resources.ROLE_KEYS and item.record.get("id")]  # fmt: skip


def _workspace_deletion(item: Made, subscription_id: str) -> Deletion:
    """Purged, so that its name can be used again at once (a plain delete keeps it for 14 days)."""
    s = item.settings
    purge = az.workspace_purge(az.workspace_id(subscription_id, s))
    if item.record.get("dialect") == "v2":
        # v2 purges, and deletes the storage, key vault, insights (and its log analytics) and registry the
        # workspace made; it cannot find a workspace already soft-deleted (exit 3): then the ARM purge does.
        return Deletion("workspace", item.label, ml.v2_workspace_delete(s), fallback=purge, generation=item.generation)
    return Deletion("workspace", item.label, purge, generation=item.generation)


def _workspace_with_dependents(item: Made, subscription_id: str, checked: _Checked) -> list[Deletion]:
    """A workspace whose group stays: what it made with it deleted by id first (as v2's --all-resources
    does; v1 cannot), then the workspace purged, so that an interrupted teardown still knows them."""
    out = []
    dependents = checked.dependents(item)
    if not dependents and "dependents" not in item.record:
        group = item.settings.aml_group
        checked.left.append((f"what {item.label} made with it (storage account, key vault, application insights; "
                             "not recorded by an older azwrap)",
                             az.line(("resource", "list", "--resource-group", group, "--output", "table"))))  # fmt: skip
    if item.record.get("dialect") != "v2":  # v2's --all-resources deletes these itself
        for dependent in dependents:
            out.append(Deletion(DEPENDENT, f"{_kind(dependent)} {dependent.rsplit('/', 1)[-1]} (made with {item.label})",
                                az.resource_delete([dependent])))  # fmt: skip
    for entry in checked.smart_detection(item, dependents):  # Azure made them for its insights; no --all-resources does
        out.append(Deletion(DEPENDENT, f"{entry['name']} (Azure made it for {item.label}'s application insights)",
                            az.resource_delete([entry["id"]])))  # fmt: skip
    return [*out, _workspace_deletion(item, subscription_id)]


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
    return [Deletion("sp", resources.BY_KEY["sp"].label(Settings()) + f" {app_id}", az.ad_app_delete(app_id))]


def with_subscription(teardown: Teardown, subscription_id: str) -> Teardown:
    """Every call pinned to the setup's subscription (where az accepts --subscription)."""
    pin = lambda args: az.with_subscription(args, subscription_id) if args else args  # noqa: E731
    return replace(teardown, deletions=[replace(d, args=pin(d.args), fallback=pin(d.fallback)) for d in teardown.deletions])
