"""What a step must do, decided from the settings, the state and what the probes found: pure functions."""

from __future__ import annotations

from dataclasses import replace

from ..book import resources
from ..book.settings import DEFAULTS, Settings
from ..book.steps import Step
from ..book.quoting import shown

# Where an upload goes: another destination is a new upload, not an overwrite.
UPLOAD_DESTINATION = ("account", "filesystem", "upload_path")

NOT_DONE, SIGN_IN, FORCED = "not done yet", "sign in", "forced with --force"


def ran_with(step: Step, record: dict) -> dict:
    """The settings a recorded step ran with; a setting its record lacks was added later: its default."""
    return {name: record.get("settings", {}).get(name, getattr(DEFAULTS, name)) for name in step.uses}


def changed_settings(step: Step, settings: Settings, record: dict) -> dict:
    """name -> (recorded, current) for each setting the step uses that changed since it ran."""
    return {name: (old, getattr(settings, name)) for name, old in ran_with(step, record).items()
            if getattr(settings, name) != old}  # fmt: skip


def describe_changes(changes: dict) -> str:
    return "settings changed since it ran: " + ", ".join(f"{name} {shown(old)} -> {shown(new)}" for name, (old, new) in changes.items())


def made_anew(step: Step, settings: Settings, changes: dict) -> list[str]:
    """The resources a settings change makes the step create anew (their names changed)."""
    return [resource.label(settings) for resource in resources.of_step(step.name)
            if set(resource.uses) & set(changes)]  # fmt: skip


def recorded_reason(step: Step, settings: Settings, state: dict, force: frozenset[str], inputs: dict) -> str | None:
    """Why a step must run judged from the state alone (None: done with the same settings and inputs).

    The upload's content check and the refresh probes come after this, in the plan.
    """
    if step.name == "login":
        return SIGN_IN  # never recorded: whether az is signed in changes outside azwrap
    if step.name in force:
        return FORCED
    record = state["steps"].get(step.name)
    if record is None:
        return NOT_DONE
    changes = changed_settings(step, settings, record)
    if changes and not ("source" in step.uses and not set(changes) & set(UPLOAD_DESTINATION)):
        return describe_changes(changes)
    if any(inputs.get(name) != value for name, value in record.get("inputs", {}).items()):
        return "the service principal it used has changed"
    return None


def refresh_reason(missing: list[str]) -> str | None:
    if not missing:
        return None
    return f"recorded done, but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not there any more: creating it again"


def recorded_settings(settings: Settings, record: dict | None) -> Settings:
    """settings as a resource was recorded with (names it by what it was made with, not today's options)."""
    if not record:
        return settings
    return replace(settings, **{k: v for k, v in record.get("settings", {}).items() if hasattr(settings, k)})
