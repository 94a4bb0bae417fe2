"""What refresh found: a snapshot of live facts about the setup's resources (pure data), and how to
read a resource's live state from it, as the plan does.

Each fact is keyed by what names the thing in Azure (a group's name, an ARM id, a path in a filesystem,
a principal's appId), so that a resource seen under old and new settings is two facts. A fact that
is absent from the snapshot was not looked at; a resource whose container is known to be gone is
gone too, without a look.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..book import resources
from ..book.settings import Settings

MISSING = None  # a fact's value when az said the thing is not there


@dataclass(frozen=True)
class Snapshot:
    """Live facts, each as az printed it; a key not present was not probed."""

    account: dict | None = None  # `az account show` (None: not signed in)
    extensions: frozenset | None = None  # installed az extensions (`az version`)
    groups: dict = field(default_factory=dict)  # group name (lower case) -> `az group list` item | None
    arm: dict = field(default_factory=dict)  # ARM id (lower case) -> `az resource show` JSON | None
    paths: dict = field(default_factory=dict)  # ("fs", account, fs) | ("file", account, fs, path) -> bool
    principals: dict = field(default_factory=dict)  # appId -> `az ad sp show` JSON | None
    assignments: dict = field(default_factory=dict)  # appId -> its role assignments (all scopes) | None
    contents: dict = field(default_factory=dict)  # group name (lower case) -> `az resource list -g` items
    storage: dict = field(default_factory=dict)  # account (lower case) -> {"filesystems": [...], "files": {fs: [...]}}

    def merged(self, **parts) -> Snapshot:
        """A snapshot with more facts (each part's entries added to the ones there)."""
        return replace(self, **{name: {**getattr(self, name), **value} for name, value in parts.items()})


UNKNOWN = object()  # live() of something not probed


@dataclass(frozen=True)
class Where:
    """How one resource is named in Azure, given the settings it was (or will be) made with."""

    key: str
    settings: Settings
    subscription_id: str
    app_id: str | None = None  # the principal (for sp and role assignments)
    assignment_id: str | None = None  # a role assignment's recorded id
    scope: str | None = None  # a role assignment's scope (the captured $acc.id / $aml.id)


def fact_key(where: Where):
    """(which part of the snapshot, the entry's key) for a resource."""
    key, s = where.key, where.settings
    if key in resources.GROUP_KEYS:
        return "groups", getattr(s, key).lower()
    if key in resources.ARM_KEYS:
        return "arm", resources.arm_id(key, s, where.subscription_id).lower()
    if key == "filesystem":
        return "paths", ("fs", s.account, s.filesystem)
    if key == "upload":
        return "paths", ("file", s.account, s.filesystem, s.upload_path)
    if key == "sp":
        return "principals", where.app_id
    if key in resources.ROLE_KEYS:
        return "assignments", where.app_id
    raise KeyError(key)


def live(snapshot: Snapshot, where: Where):
    """The resource's live JSON (a role assignment's list item; True for a path that exists), MISSING
    when it is not there, or UNKNOWN when nothing tells."""
    parent = resources.BY_KEY[where.key].inside
    if where.key in resources.ROLE_KEYS:
        parent = "sp"  # a role assignment goes with its principal
    if parent is not None:
        above = live(snapshot, replace(where, key=parent))
        if above is MISSING:
            return MISSING
    part, entry = fact_key(where)
    if entry is None:
        return UNKNOWN  # no principal recorded to look for
    facts = getattr(snapshot, part)
    if entry not in facts:
        return UNKNOWN
    value = facts[entry]
    if where.key in resources.ROLE_KEYS:
        return MISSING if value is None else _assignment(value, where)
    if part == "paths":
        return True if value else MISSING
    return value


def _assignment(assignments: list, where: Where):
    role = resources.ROLE_NAMES[where.key]
    for item in assignments:
        if not isinstance(item, dict):
            continue
        if where.assignment_id:
            if str(item.get("id", "")).lower() == where.assignment_id.lower():
                return item
        elif item.get("roleDefinitionName") == role and str(item.get("scope", "")).lower() == str(where.scope).lower():
            return item
    return MISSING


def present(snapshot: Snapshot, where: Where) -> bool | None:
    """True, False, or None when the snapshot does not tell."""
    found = live(snapshot, where)
    return None if found is UNKNOWN else found is not MISSING
