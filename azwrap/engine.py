"""Running steps: fill in run-time values, call the runner, record what each step did."""

from __future__ import annotations

import datetime
from pathlib import Path

from . import commands as az
from . import state as state_file
from .commands import CAPTURED_FIELDS, Dialect, Invocation, Ref
from .runner import AzFailed, Runner, Secret
from .settings import Settings
from .steps import STEPS, Step

# Which step command captures each run-time value, to name it when a later step lacks it.
PRODUCERS = {inv.capture: step.name for step in STEPS for inv in step.invocations(Settings(account="x"), az.V1) if inv.capture}

# create-for-rbac makes a new principal and secret on every call (REFERENCE.md section 4):
# once one is recorded, it is reused instead of created again.
REUSED_CAPTURES = ("sp",)


class MissingInput(Exception):
    """A step needs a value that an earlier step command records; it names that command."""


class Setup:
    """One azwrap run: settings, the az dialect, the runner and the state file."""

    def __init__(self, settings: Settings, dialect: Dialect, runner: Runner, state_path: Path):
        self.settings, self.dialect, self.runner, self.state_path = settings, dialect, runner, state_path
        self.state = state_file.load(state_path)
        self.runner.redact.add(self.state["outputs"].get("sp", {}).get("password"))

    def run_all(self) -> None:
        """The whole book in order; `az login` only when `az account show` says we are not signed in."""
        for step in STEPS:
            if step.name == "login" and self.signed_in():
                self.runner.echo("login: already signed in (az account show), skipped")
                continue
            self.run_step(step)

    def signed_in(self) -> bool:
        try:
            self.runner.run("login", list(az.account_show()), capture=True)
        except AzFailed:
            return False
        return True

    def run_step(self, step: Step) -> None:
        invocations = step.invocations(self.settings, self.dialect)
        self._check_inputs(step, invocations)
        outputs = self.state["outputs"]
        for invocation in invocations:
            if invocation.capture in REUSED_CAPTURES and invocation.capture in outputs:
                recorded = outputs[invocation.capture]
                self.runner.echo(
                    f"{step.name}: reusing the service principal {recorded.get('appId')} recorded in {self.state_path}"
                )
                continue
            args = [self._resolve(arg) for arg in invocation.args]
            result = self.runner.run(step.name, args, capture=invocation.capture is not None)
            if invocation.capture:
                self._record_capture(step.name, invocation, result)
        self.state["steps"][step.name] = {
            "done_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "settings": self.settings.subset(step.uses),
        }
        self._save()

    def _check_inputs(self, step: Step, invocations: list[Invocation]) -> None:
        """Fail before any az call when a value that another step records is not in the state."""
        produced_here = {inv.capture for inv in invocations if inv.capture}
        for ref in (ref for inv in invocations for ref in inv.refs):
            if ref.var not in produced_here and ref.var not in self.state["outputs"]:
                producer = PRODUCERS[ref.var]
                raise MissingInput(
                    f"step '{step.name}' needs {ref} from step '{producer}', which is not recorded in "
                    f"{self.state_path}: run `azwrap {producer}` first (with the same --state-file)"
                )

    def _resolve(self, arg):
        if not isinstance(arg, Ref):
            return arg
        value = self.state["outputs"][arg.var][arg.field]
        return Secret(value) if arg.secret else value

    def _record_capture(self, step: str, invocation: Invocation, result) -> None:
        fields = CAPTURED_FIELDS[invocation.capture]
        if not isinstance(result, dict) or not all(isinstance(result.get(f), str) and result.get(f) for f in fields):
            raise AzFailed(
                step, self.runner.display(invocation.template()), 0, [],
                reason=f"its JSON lacks a field azwrap needs ({', '.join(fields)})",
            )  # fmt: skip
        self.state["outputs"][invocation.capture] = {field: result[field] for field in fields}
        # Save at once: a failure in the next call must not lose a new principal's secret.
        self._save()

    def _save(self) -> None:
        state_file.save(self.state_path, self.state)
