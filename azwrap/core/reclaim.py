"""What azwrap made, known again when a run finds it: a record without its identity (read anew), an earlier
generation under names a setting went back to, what a creating call whose answer was lost made (`pending`,
core/record.py). Pure functions of the plan's inputs; the plan asks them (core/plan.py)."""

from __future__ import annotations

from ..book import resources
from .lifecycle import lost_app_command
from .places import guarded


def reupload_own(inputs, step) -> bool:
    """The file at the upload path is the one azwrap uploaded under these names earlier (a setting that
    changed and changed back): uploaded over, with today's file."""
    return step.name == "upload" and guarded(inputs, "upload") is not None and reclaimable(inputs, "upload") is not None


def unidentified(inputs, key: str | None, found: list) -> bool:
    """A thing azwrap made, found again under the same names, with no identity recorded (the read after
    its creation failed; an older azwrap): azwrap's own identity call runs for it now."""
    record = inputs.state["resources"].get(key or "", {})
    named = inputs.settings.subset(resources.BY_KEY[key].uses) if key in resources.BY_KEY else None
    return (any(k == key for k, _ in found) and bool(record.get("created")) and not record.get("identity")
            and record.get("settings") == named)


def _ours_now(inputs, key: str) -> bool:
    """Whether resource key as today's settings name it is azwrap's: recorded so, or taken back now."""
    record = inputs.state["resources"].get(key, {})
    named = inputs.settings.subset(resources.BY_KEY[key].uses)
    return bool(record.get("created") and record.get("settings") == named) or reclaimable(inputs, key) is not None


# How far the local clock may be ahead of Azure's when a lost answer's creation time is compared with it.
CLOCK_SKEW_SECONDS = 300


def reclaimable(inputs, key: str) -> dict | None:
    """The record of what azwrap made, when the thing found under today's names is it: an earlier
    generation with the same identity (a setting changed and changed back), or what a creating call whose
    answer was lost made (it was made after that call began)."""
    record = inputs.state["resources"].get(key, {})
    named = inputs.settings.subset(resources.BY_KEY[key].uses)
    found = guarded(inputs, key)
    if found is None or (record.get("created") and record.get("settings") == named):
        return None  # not there, or recorded as azwrap's already
    for index, entry in enumerate(inputs.state.get("earlier", [])):
        old = entry.get("record", {})
        if entry.get("key") != key or entry.get("deleted") or not old.get("created") or old.get("settings") != named:
            continue
        same = resources.same_identity(key, old.get("identity"), found)
        if same is None and key in ("filesystem", "upload"):  # no identity of its own: its account's tells
            same = _ours_now(inputs, resources.BY_KEY[key].inside)
        if same is True:
            return {**old, "generation": index}
    pending = inputs.state.get("pending", {}).get(key) or {}
    born, started = resources.created_at(key, found), resources.instant(pending.get("started"))
    if pending.get("settings") == named and born is not None and started is not None and \
            (born - started).total_seconds() >= -CLOCK_SKEW_SECONDS:
        identity = resources.identity_of(key, found)
        return {"created": True, "settings": named, **({"identity": identity} if identity else {})}
    return None


def lost_answers(inputs, steps) -> list[str]:
    """What a creating call whose answer was lost may have made, where azwrap cannot tell it made it."""
    pending = inputs.state.get("pending", {})
    notes = []
    for step in steps:
        reclaimed = dict(step.reclaim)
        for key, what in step.found:
            if key in pending and key not in reclaimed and pending[key].get("settings") == inputs.settings.subset(
                    resources.BY_KEY[key].uses):
                notes.append(f"{what}: an earlier run's call that makes it ended without an answer, and azwrap cannot "
                             "tell whether that call made it: it is treated as yours, and azwrap will not delete it")
    started = [*inputs.state.get("lost_apps", []), *([pending["sp"]["started"]] if "sp" in pending else [])]
    if any(step.step == "sp" and step.reason for step in steps):
        notes += [lost_app_note(when) for when in started]
    return notes


def lost_app_note(started: str) -> str:
    return (f"an earlier run's az ad sp create-for-rbac (begun {started}) ended without an answer: it may have made "
            f"an app with a secret azwrap never saw. List the apps made that hour with `{lost_app_command(started)}`, "
            "and delete it if it is there (az ad app delete --id <appId>)")
