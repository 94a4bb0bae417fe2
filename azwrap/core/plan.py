"""The plan: what a run does and why, from the settings, the state, the live facts and --force.

A pure function: no process, no file, no clock. It is the one place decisions are made; `apply`
carries them out, `--what-if` prints them, and both show the same list of calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..book import resources
from ..book.commands import Invocation
from ..book.settings import Settings
from ..book.steps import NEEDS, PRODUCERS, STEPS, Known, Step
from ..errors import MissingInput, Refused
from . import planning
from .facts import MISSING, UNKNOWN, Snapshot, live
from . import reclaim
from .places import guarded, where_recorded
from ..book.quoting import shown

# Reads of the book: they capture a value and change nothing in Azure.
READS = ("acc", "aml")


@dataclass(frozen=True)
class Action:
    """One az call of the plan, and why it runs."""

    step: str
    invocation: Invocation
    reason: str
    gone_ok: bool = False  # a delete of something that may be gone already: az's not-found is success

    @property
    def changes(self) -> bool:
        # the book's reads, and azwrap's own reads of what it just made; its tag on a new group changes it
        return self.invocation.capture not in READS and not (self.invocation.own and self.invocation.args[0] != "tag")


@dataclass(frozen=True)
class StepPlan:
    step: str
    reason: str | None  # why it runs; None: skipped
    skipped_because: str = ""
    actions: tuple[Action, ...] = ()
    found: tuple[tuple[str, str], ...] = ()  # (resource, what): there already, recorded as found, not made
    forget_sp: bool = False  # the recorded principal is gone: forget it and its role assignments
    retire: tuple[dict, ...] = ()  # principals this run replaces, deleted at the end of the step
    anew: tuple[str, ...] = ()  # what a changed setting makes it create anew (the earlier ones stay)
    reclaim: tuple[tuple[str, dict], ...] = ()  # (resource, record): found, and the thing azwrap made (record.resource)


@dataclass(frozen=True)
class Plan:
    steps: tuple[StepPlan, ...]
    notes: tuple[str, ...] = ()  # said before anything runs
    disown: tuple[tuple[str, str], ...] = ()  # (resource, what): recorded as azwrap's, but made again by someone

    @property
    def running(self) -> list[StepPlan]:
        return [step for step in self.steps if step.reason is not None]

    @property
    def actions(self) -> list[Action]:
        return [action for step in self.steps for action in step.actions]

    @property
    def changes(self) -> bool:
        return any(action.changes for action in self.actions) or any(step.found for step in self.running)

    def step(self, name: str) -> StepPlan | None:
        return next((step for step in self.steps if step.step == name), None)


@dataclass(frozen=True)
class Inputs:
    """Everything the plan is made from."""

    settings: Settings
    state: dict
    snapshot: Snapshot
    scope: tuple[str, ...]  # the steps this command runs, in the book's order
    subscription_id: str = Known().subscription_id
    force: frozenset = frozenset()
    source_sha: str | None = None  # the local source file's sha256
    refresh: bool = True  # False: a step recorded done is trusted without a look
    keep_old_sp: bool = False
    state_path: str = "the state file"


@dataclass
class _Run:
    """What the plan has decided so far, for the steps that come later."""

    steps: list[StepPlan] = field(default_factory=list)
    new_sp: bool = False  # a new principal is created: what uses the old one runs again

    def running(self, name: str) -> bool:
        return any(step.step == name and step.reason is not None for step in self.steps)


def make(inputs: Inputs) -> Plan:
    """The plan of a run: each step in scope, in the book's order, with its actions and reasons."""
    disown = _not_azwraps_any_more(inputs)
    if disown:  # what it says is true from now on: the rest of the plan reads the records so
        inputs = replace(inputs, state=_disowned(inputs.state, [key for key, _ in disown]))
    run = _Run()
    for step in STEPS:
        if step.name in inputs.scope and step.name != "login":
            run.steps.append(_plan_step(inputs, step, run))
    notes = [f"{what} is not the one azwrap made (made again under the same name): it is yours now, and azwrap "
             "will not delete it" for _, what in disown]  # fmt: skip
    return Plan(tuple(run.steps), tuple(notes + _notes(inputs, run.steps)), tuple(disown))


def _not_azwraps_any_more(inputs: Inputs) -> list[tuple[str, str]]:
    """Records of things azwrap made whose live identity is another's (a group's tag, a workspace's id...)."""
    out = []
    for key, record in inputs.state["resources"].items():
        if not record.get("created") or not record.get("identity") or key not in resources.BY_KEY:
            continue
        found = live(inputs.snapshot, where_recorded(inputs, key))
        if found in (MISSING, UNKNOWN):
            continue
        if resources.same_identity(key, record["identity"], found) is False:
            out.append((key, resources.BY_KEY[key].label(planning.recorded_settings(inputs.settings, record))))
    return out


def _disowned(state: dict, keys: list[str]) -> dict:
    records = {key: ({**record, "created": False} if key in keys else record) for key, record in state["resources"].items()}
    return {**state, "resources": records}


def precheck(inputs: Inputs) -> None:
    """The refusals that need no live fact, before any az call: a value missing from the state, an
    upload of another file to where one was made."""
    run = _Run([StepPlan(name, "in scope") for name in inputs.scope])
    for step in STEPS:
        if step.name not in inputs.scope or step.name == "login":
            continue
        _check_inputs(inputs, step, run)
        if "source" in step.uses and state_reason(inputs, step) is None:
            _refuse_reupload(inputs, step, inputs.state["steps"].get(step.name))


def _plan_step(inputs: Inputs, step: Step, run: _Run) -> StepPlan:
    state, settings = inputs.state, inputs.settings
    reason = _reason(inputs, step, run)
    if reason is None:
        leftovers = tuple(entry for entry in _left_to_retire(inputs, step) if not _still_used(inputs, entry))
        if leftovers:  # an earlier run replaced the principal but could not delete the old one
            why = "deleting the service principal an earlier run replaced"
            return StepPlan(step.name, why, actions=tuple(_retirements(step.name, leftovers)), retire=leftovers)
        return StepPlan(step.name, None, "done earlier" + (", and still there" if inputs.refresh else ""))
    _check_inputs(inputs, step, run)
    _check_prerequisites(inputs, step, run)
    forced = step.name in inputs.force or reclaim.reupload_own(inputs, step)
    forget_sp = False
    sp_reused = False
    if step.name == "sp" and "sp" in state["outputs"] and not forced:
        sp_reused = _present(inputs, "sp") is not False
        forget_sp = not sp_reused
    new_sp = step.name == "sp" and not sp_reused
    outputs = dict(state["outputs"])
    if run.new_sp or new_sp:
        outputs.pop("sp", None)  # the datastore's check must not take the old principal for the one it uses
    known = Known(inputs.subscription_id, state["resources"], outputs)
    actions, found, made_way, made, taken_back = [], [], False, set(), {}
    for invocation in step.invocations(settings, forced, known):
        if invocation.capture == "sp" and sp_reused:
            continue
        if invocation.own and invocation.follows not in made and not reclaim.unidentified(inputs, invocation.identifies, found):
            continue  # azwrap's own call after a creation that does not happen
        # A forced step runs again; it does not create twice what its guard finds.
        if invocation.guard and not made_way and invocation.guard.skip(guarded(inputs, invocation.guard.key)):
            if not invocation.before:  # a detach with nothing to detach is no news
                found.append((invocation.makes, invocation.guard.what))
                record = reclaim.reclaimable(inputs, invocation.makes) if invocation.makes else None
                if record:
                    taken_back[invocation.makes] = record
            continue
        made_way = invocation.before
        made.add(invocation.makes)
        actions.append(Action(step.name, invocation, reason))
    if new_sp:
        run.new_sp = True
    retire = _retired(inputs, step, new_sp, forget_sp)
    actions += _retirements(step.name, tuple(entry for entry in retire if not _still_used(inputs, entry)))
    _refuse_fixed_location(inputs, step, actions, found)
    _refuse_foreign_file(inputs, found)
    changes = planning.changed_settings(step, settings, state["steps"].get(step.name, {}))
    anew = tuple(planning.made_anew(step, settings, changes)) if step.name in state["steps"] and changes else ()
    return StepPlan(step.name, reason, actions=tuple(actions), found=tuple(found), forget_sp=forget_sp,
                    retire=retire, anew=anew, reclaim=tuple(taken_back.items()))  # fmt: skip


def _refuse_foreign_file(inputs: Inputs, found: list) -> None:
    """A file at the upload path that azwrap did not upload there: not overwritten unless asked."""
    if not any(key == "upload" for key, _ in found):
        return
    record = inputs.state["resources"].get("upload", {})
    if record.get("settings") == inputs.settings.subset(resources.BY_KEY["upload"].uses):
        return  # recorded: uploaded by azwrap, or found there and used as it is
    s = inputs.settings
    raise Refused(f"step 'upload': {s.upload_path} exists in filesystem {s.filesystem} of {s.account}, and azwrap did "
                  f"not upload it; nothing was changed. To overwrite it with {s.source}, {force_hint('upload')}; or "
                  "choose another --upload-path")


def state_reason(inputs: Inputs, step: Step) -> str | None:
    """Why step must run judged from the state alone (None: done with the same settings and inputs)."""
    return planning.recorded_reason(step, inputs.settings, inputs.state, inputs.force, _recorded_inputs(inputs, step))


def _reason(inputs: Inputs, step: Step, run: _Run) -> str | None:
    """Why step must run (None: done earlier with the same settings and inputs, and still there)."""
    state, settings = inputs.state, inputs.settings
    reason = state_reason(inputs, step)
    record = state["steps"].get(step.name)
    if reason is None and run.new_sp and any(ref.var == "sp" for inv in step.invocations(settings) for ref in inv.refs):
        reason = "the service principal it uses is new"
    if reason is None and "source" in step.uses:
        _refuse_reupload(inputs, step, record)
    if reason is not None or not inputs.refresh:
        return reason
    return planning.refresh_reason(_missing(inputs, step))


def _recorded_inputs(inputs: Inputs, step: Step) -> dict:
    """The non-secret run-time values the step takes from earlier steps, as the state has them now."""
    outputs = inputs.state["outputs"]
    invocations = step.invocations(inputs.settings)
    produced_here = {inv.capture for inv in invocations}
    return {str(ref): outputs[ref.var].get(ref.field) for inv in invocations for ref in inv.refs
            if not ref.secret and ref.var in outputs and ref.var not in produced_here}  # fmt: skip


def _refuse_reupload(inputs: Inputs, step: Step, record: dict | None) -> None:
    """An upload to where one was done: nothing to do for the same content, refused for another
    (az would fail: it does not overwrite without --overwrite)."""
    if record is None or record.get("sha256") in (None, inputs.source_sha):
        return
    raise Refused(f"step '{step.name}': {inputs.settings.source} differs from the file uploaded to "
                  f"{inputs.settings.upload_path}; to overwrite it, {force_hint(step.name)}")  # fmt: skip


def force_hint(step: str) -> str:
    return f"run again with --force {step} (azwrap all) or --force (azwrap {step})"


def _present(inputs: Inputs, key: str) -> bool | None:
    """Whether the resource the state records under key is there (None: not looked at)."""
    found = live(inputs.snapshot, where_recorded(inputs, key))
    return None if found is UNKNOWN else found is not MISSING


def _missing(inputs: Inputs, step: Step) -> list[str]:
    """What a step recorded done made that the snapshot no longer finds."""
    labels = []
    for resource in resources.of_step(step.name):
        if resource.key == "sp" and "sp" not in inputs.state["outputs"]:
            continue
        if _present(inputs, resource.key) is False:
            record = inputs.state["resources"].get(resource.key)
            labels.append(resource.label(planning.recorded_settings(inputs.settings, record)))
    if step.name == "extension" and not guarded(inputs, "extension") & {_dialect(inputs).extension}:
        labels.append(f"the {_dialect(inputs).extension} extension")
    return labels


def _dialect(inputs: Inputs):
    from ..book.ml import DIALECTS

    return DIALECTS[inputs.settings.ml_cli]


def _check_inputs(inputs: Inputs, step: Step, run: _Run) -> None:
    """Refuse before any az call when a value another step records is missing or was made for other settings."""
    invocations = step.invocations(inputs.settings)
    produced_here = {inv.capture for inv in invocations if inv.capture}
    for ref in (ref for inv in invocations for ref in inv.refs):
        producer = PRODUCERS[ref.var]
        if ref.var in produced_here or run.running(producer):
            continue
        if ref.var not in inputs.state["outputs"]:
            raise MissingInput(f"step '{step.name}' needs {ref} from step '{producer}', which is not recorded "
                               f"in {inputs.state_path}: run `azwrap {producer}` first (with the same --state-file)")
        recorded = inputs.state["steps"].get(producer, {}).get("settings", {})
        for name, old in recorded.items():
            if name in step.uses and getattr(inputs.settings, name) != old:
                raise MissingInput(
                    f"step '{step.name}' needs {ref} from step '{producer}', which ran with {name} {shown(old)}, "
                    f"not {shown(getattr(inputs.settings, name))}: run `azwrap {producer}` with the same settings first"
                )


def _check_prerequisites(inputs: Inputs, step: Step, run: _Run) -> None:
    """A step run before the steps it builds on fails late in az: say which to run first instead."""
    for need in step.needs:
        if need in inputs.state["steps"] or run.running(need):
            continue
        if need == "extension":
            there = _dialect(inputs).extension in guarded(inputs, "extension")
        else:
            there = all(guarded(inputs, r.key) is not None for r in resources.of_step(need) if r.key != "sp")
        if not there:
            raise Refused(f"step '{step.name}' needs what step '{need}' makes, which is neither recorded in "
                          f"{inputs.state_path} nor found in Azure: run `azwrap {need}` first")  # fmt: skip


def _retired(inputs: Inputs, step: Step, new_sp: bool, forget_sp: bool) -> tuple[dict, ...]:
    """The principals to delete once this sp step's new one works: the one it replaces (with
    --keep-old-sp: recorded as kept, for destroy alone), and any an earlier run left to delete."""
    retire = list(_left_to_retire(inputs, step))
    sp = inputs.state["outputs"].get("sp")
    if new_sp and sp and not (inputs.keep_old_sp and forget_sp):
        ids = [inputs.state["resources"].get(key, {}).get("id") for key in resources.ROLE_KEYS]
        entry = {"appId": sp["appId"], "assignments": [i for i in ids if i], "gone": forget_sp}
        retire.append({**entry, "kept": True} if inputs.keep_old_sp else entry)  # kept: recorded for destroy only
    return tuple(retire)


def _still_used(inputs: Inputs, entry: dict) -> list[str]:
    """The steps outside this run that were done with the replaced principal (the datastore authenticates as
    it): it is deleted once they have run with the new one, not before."""
    return [name for name, record in inputs.state["steps"].items() if name not in inputs.scope
            and record.get("inputs", {}).get("$sp.appId") == entry["appId"]]  # fmt: skip


def _left_to_retire(inputs: Inputs, step: Step) -> tuple[dict, ...]:
    if step.name != "sp":
        return ()
    from .lifecycle import retired_entries

    return tuple(entry for entry in retired_entries(inputs.state) if not entry.get("kept"))


def _retirements(step: str, retire: tuple[dict, ...]) -> list[Action]:
    """Deleting a replaced principal: its role assignments by recorded id (az ad app delete leaves
    them), then the app, which deletes the principal and its secret. Either may be gone already."""
    from ..book import commands as az

    actions = []
    for entry in (entry for entry in retire if not entry.get("kept")):  # --keep-old-sp's: destroy deletes it
        why = f"the service principal {entry['appId']} was replaced"
        if entry.get("assignments"):
            actions.append(Action(step, Invocation(step, az.role_assignment_delete(entry["assignments"])), why, True))
        if not entry.get("gone"):
            actions.append(Action(step, Invocation(step, az.ad_app_delete(entry["appId"])), why, True))
    return actions


def _refuse_fixed_location(inputs: Inputs, step: Step, actions: list[Action], found: list[str]) -> None:
    """A changed --location cannot move what exists (Azure cannot): refused, naming it and the way out."""
    record = inputs.state["steps"].get(step.name)
    if record is None or "location" not in step.uses:
        return
    old = planning.ran_with(step, record)["location"]
    wanted = inputs.settings.location
    if _region(old) == _region(wanted):
        return
    for key, _ in found:
        there = guarded(inputs, key) if key else None
        where = there.get("location") if isinstance(there, dict) else None  # a path's fact is True: no location
        if where and _region(where) != _region(wanted):
            label = resources.BY_KEY[key].label(inputs.settings)
            raise Refused(
                f"--location {shown(wanted)}: {label} exists in {where} (made with --location {shown(old)}), and Azure "
                f"cannot move it; nothing was changed. Keep --location {shown(old)}, run `azwrap destroy` first, or "
                "choose other names (--aml-group, --workspace, --adls-group, --account)"
            )


def _region(name) -> str:
    return str(name or "").replace(" ", "").lower()


def _notes(inputs: Inputs, steps: list[StepPlan]) -> list[str]:
    """Steps recorded done that run again, and why; what a changed setting makes anew."""
    rerun = []
    for step in steps:
        if step.reason is None or step.step not in inputs.state["steps"]:
            continue
        text = f"{step.step} ({step.reason}"
        if step.anew:
            text += f"; creates {', '.join(step.anew)} anew"
        rerun.append(text + ")")
    notes = ["steps done earlier that will run again: " + "; ".join(rerun)] if rerun else []
    notes += reclaim.lost_answers(inputs, steps)
    for step in steps:
        for entry in (e for e in step.retire if not e.get("kept")) if step.reason else ():
            using = _still_used(inputs, entry)
            if using:
                notes.append(f"the replaced service principal {entry['appId']} stays until {' and '.join(using)} "
                             f"use{'s' if len(using) == 1 else ''} the new one: `azwrap all` runs "
                             f"{'it' if len(using) == 1 else 'them'} again, then deletes it")
    if any(step.anew for step in steps if step.reason):
        notes.append("what azwrap made under the earlier names stays, and bills: it stays recorded, `azwrap status` "
                     "lists it, and `azwrap destroy` removes it")  # fmt: skip
    return notes


def needs_of(plan: Plan) -> dict[str, tuple[str, ...]]:
    """Each running step's prerequisites among the running steps (the scheduler's graph)."""
    running = {step.step for step in plan.running}
    return {name: tuple(n for n in NEEDS[name] if n in running) for name in running}

