"""Each record of what azwrap made, held against what refresh found: gone, made again by someone (theirs),
in doubt, or still azwrap's (ours); what a workspace made with it and what it only links to; the data in
azwrap's storage accounts that azwrap did not put there. Pure: teardown.py decides the deletions from it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from ..book import resources
from ..book.settings import Settings
from . import planning
from .facts import MISSING, UNKNOWN, Snapshot, Where, live

# Azure adds these beside a workspace's application insights, later (they are not in the workspace's JSON).
SMART_DETECTION_GROUP = "Application Insights Smart Detection"
FAILURE_ANOMALIES = "Failure Anomalies - "
# ARM makes a workspace's storage, key vault, insights (and log analytics) just before the workspace itself.
MADE_WITH_MARGIN = datetime.timedelta(hours=1)
OURS, THEIRS, DOUBT, GONE = "ours", "theirs", "doubt", "gone"


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


def id_of(item: Made) -> tuple:
    return (item.key, item.generation)


def _group_prefix(subscription_id: str, group: str) -> str:
    return f"/subscriptions/{subscription_id}/resourcegroups/{group}/".lower()


class Checked:
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
        if id_of(item) not in self._verdicts:
            self._verdicts[id_of(item)] = self._verdict(item)
        return self._verdicts[id_of(item)]

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
            if kind(link) == "container registry" and self.made_with(workspace, link, born):
                made.append(link)  # Azure ML made it for the workspace (its first image build)
                continue
            foreign.append((f"{kind(link)} {link.rsplit('/', 1)[-1]}",
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


def kind(resource_id: str) -> str:
    kinds = {"storageaccounts": "storage account", "vaults": "key vault", "components": "application insights",
             "workspaces": "log analytics workspace", "registries": "container registry"}  # fmt: skip
    return kinds.get(resource_id.rstrip("/").split("/")[-2].lower(), "resource")
