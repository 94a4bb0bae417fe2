"""Where each resource is in Azure: as the state records it (what azwrap made or found) and as today's
settings name it (what a step would make). The plan and the refresh look at both."""

from __future__ import annotations

from ..book import resources
from . import planning
from .facts import MISSING, UNKNOWN, Where, live


def where_recorded(inputs, key: str) -> Where:
    """Resource key as recorded: named by the settings it was made with; a role by its recorded id."""
    record = inputs.state["resources"].get(key)
    return _where(inputs, key, planning.recorded_settings(inputs.settings, record), record)


def where_wanted(inputs, key: str) -> Where:
    """Resource key as today's settings name it."""
    return _where(inputs, key, inputs.settings, None)


def _where(inputs, key: str, settings, record: dict | None) -> Where:
    outputs = inputs.state["outputs"]
    app_id = outputs.get("sp", {}).get("appId")
    if key not in resources.ROLE_KEYS:
        return Where(key, settings, inputs.subscription_id, app_id=app_id)
    scope = outputs.get(resources.ROLE_SCOPES[key], {}).get("id")
    recorded = (record or inputs.state["resources"].get(key) or {}).get("id")
    return Where(key, settings, inputs.subscription_id, app_id=app_id, assignment_id=recorded, scope=scope)


def guarded(inputs, key: str):
    """What a guard looks at: the live JSON of resource key as today's settings name it (None: not there)."""
    if key == "extension":
        return inputs.snapshot.extensions or frozenset()
    found = live(inputs.snapshot, where_wanted(inputs, key))
    return None if found in (MISSING, UNKNOWN) else found
