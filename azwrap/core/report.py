"""What `azwrap status` shows: each step done or pending, the settings and where each comes from,
the recorded resources (and, with --refresh, whether each is still there) and non-secret outputs."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..book import resources
from ..book.commands import SECRET_REFS, Ref
from ..book.settings import Settings
from ..book.steps import STEPS
from . import planning
from .facts import live, present

_ORDER = {resource.key: n for n, resource in enumerate(resources.RESOURCES)}


def status_report(state: dict, state_path: Path, settings: Settings, sources: dict) -> dict:
    """The state as a report; never the secret."""
    steps = []
    for step in STEPS:
        record = state["steps"].get(step.name)
        if step.name == "login":
            continue
        steps.append({"step": step.name, "status": "done" if record else "pending",
                      "done_at": record.get("done_at") if record else None,
                      **{key: record.get(key) if record else None for key in ("started_at", "ended_at", "seconds")}})  # fmt: skip
    secret = {(ref.var, ref.field) for ref in SECRET_REFS}
    outputs = {str(Ref(var, field)): value for var, fields in state["outputs"].items()
               for field, value in fields.items() if (var, field) not in secret}  # fmt: skip
    upload = state["steps"].get("upload")
    if upload and upload.get("sha256"):
        outputs["upload.sha256"] = upload["sha256"]
    recorded = state.get("settings", {})
    return {
        "state_file": str(state_path),
        "subscription": state.get("subscription"),
        "steps": steps,
        "settings": {name: {"value": value, "source": sources[name], "recorded": recorded.get(name)}
                     for name, value in asdict(settings).items()},
        "resources": [{"key": key, "resource": resources.BY_KEY[key].label(planning.recorded_settings(settings, record)),
                       "created": bool(record.get("created")), **({"id": record["id"]} if record.get("id") else {})}
                      for key, record in sorted(state["resources"].items(), key=lambda item: _ORDER.get(item[0], 99))
                      if key in resources.BY_KEY],
        "earlier": [{"key": entry.get("key"), "created": True,
                     "resource": resources.BY_KEY[entry["key"]].label(planning.recorded_settings(settings, entry.get("record")))}
                    for entry in state.get("earlier", []) if entry.get("key") in resources.BY_KEY and not entry.get("deleted")],
        "outputs": outputs,
    }  # fmt: skip


def add_live(report: dict, inputs, snapshot) -> None:
    """Each recorded resource's live state next to the record: present, MISSING (or unknown)."""
    from .places import where_recorded

    for entry in report["resources"]:
        where = where_recorded(inputs, entry["key"])
        record = inputs.state["resources"].get(entry["key"], {})
        found = live(snapshot, where)
        entry["live"] = {True: "present", False: "MISSING", None: "unknown"}[present(snapshot, where)]
        same = resources.same_identity(entry["key"], record.get("identity"), found) if entry["live"] == "present" else None
        if record.get("created") and same is False:
            entry["live"] = "made again by someone: not azwrap's"
        elif record.get("created") and same is None and entry["key"] in resources.GROUP_KEYS and record.get("identity"):
            entry["live"] = "its azwrap-id tag is gone: azwrap cannot tell it is the one it made"
