"""verify's parts without az: the private configuration directory, the SDK's config.json, and the waiting
for roles to apply (a scripted runner and a clock that moves only when verify sleeps)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile

import pytest

from azwrap.az import configdir
from azwrap.az.redact import Redactor
from azwrap.az.runner import AzFailed, Joined, Runner, Secret
from azwrap.book.settings import Settings
from azwrap.core import handoff
from azwrap.core.as_principal import AsPrincipal, Pace, Target
from azwrap.core.checklist import FAIL, OK, SKIP, lines
from azwrap.errors import MissingInput, Refused

from .conftest import ACC_ID, AML_ID, SECRET, SP, SUB


# --------------------------------------------------------------------------- the private configuration directory


def test_the_configuration_directory_is_private_and_gone_after_the_block(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with configdir.private_config_dir() as path:
        assert os.path.dirname(path) == str(tmp_path)
        assert os.path.basename(path).startswith(f"azwrap-{os.getpid()}-")  # a later azwrap removes it if this one dies
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
        (open(os.path.join(path, "service_principal_entries.json"), "w")).close()
        os.mkdir(os.path.join(path, "read-back"))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_the_configuration_directory_is_gone_after_an_error_or_ctrl_c(tmp_path, monkeypatch, error):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(error):
        with configdir.private_config_dir() as path:
            open(os.path.join(path, "azureProfile.json"), "w").close()
            raise error()
    assert os.listdir(tmp_path) == []


def test_a_second_ctrl_c_during_the_removal_does_not_stop_it(tmp_path, monkeypatch):
    path = tmp_path / "azwrap-1-az-x"
    path.mkdir()
    (path / "secret").write_text("s")
    real = shutil.rmtree
    calls = []

    def interrupted_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        real(*args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        configdir.remove(str(path))
    assert not path.exists() and len(calls) == 2


def test_with_environment_reaches_the_child_and_not_azwraps_own(tmp_path):
    program = tmp_path / "az"
    program.write_text(f"#!{sys.executable}\nimport json, os\nprint(json.dumps(os.environ.get('AZURE_CONFIG_DIR')))\n")
    program.chmod(0o755)
    runner = Runner(str(program), Redactor(), quiet=True, events=lambda event: None)
    before = os.environ.get("AZURE_CONFIG_DIR")
    assert runner.with_environment({"AZURE_CONFIG_DIR": str(tmp_path / "cfg")}) is runner
    assert runner.run("verify", ["x"], capture=True, shape=str) == str(tmp_path / "cfg")
    assert os.environ.get("AZURE_CONFIG_DIR") == before


# --------------------------------------------------------------------------- .azureml/config.json

STATE = {"subscription": {"id": SUB}, "steps": {"workspace": {}},
         "resources": {"workspace": {"settings": {"workspace": "aml", "aml_group": "aml-rg"}}}}  # fmt: skip
WANTED = {"subscription_id": SUB, "resource_group": "aml-rg", "workspace_name": "aml"}


def test_config_json_names_the_recorded_workspace(tmp_path):
    assert handoff.workspace_config(STATE, tmp_path) == WANTED
    with pytest.raises(MissingInput):
        handoff.workspace_config({"steps": {}, "resources": {}}, tmp_path)


def test_config_json_is_written_kept_refused_and_forced(tmp_path):
    path = tmp_path / ".azureml" / "config.json"
    assert handoff.write(path, WANTED) == handoff.WRITTEN
    assert json.loads(path.read_text()) == WANTED and path.read_text().startswith('{\n    "subscription_id"')
    assert handoff.write(path, WANTED) == handoff.SAME
    other = dict(WANTED, workspace_name="other")
    with pytest.raises(Refused, match="names workspace 'aml'"):
        handoff.write(path, other)
    assert json.loads(path.read_text()) == WANTED
    assert handoff.write(path, other, force=True) == handoff.REPLACED
    assert json.loads(path.read_text()) == other
    path.write_text("not json")
    with pytest.raises(Refused, match="is not a workspace file"):
        handoff.write(path, WANTED)
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.json"]  # no temporary file left


# --------------------------------------------------------------------------- waiting for roles to apply

FORBIDDEN_291 = ["ERROR: ", "You do not have the required permissions needed to perform this operation."]
FORBIDDEN_SERVICE = ["ERROR: This request is not authorized to perform this operation using this permission.",
                     "ErrorCode:AuthorizationPermissionMismatch"]  # fmt: skip


class Clock:
    def __init__(self):
        self.now, self.sleeps = 1000.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Scripted:
    """A runner whose az answers by command: a list of answers per command word, the last repeated."""

    def __init__(self, answers: dict[str, list]):
        self.answers, self.calls, self.echoed = answers, [], []
        self.redact = Redactor()

    def echo(self, text: str) -> None:
        self.echoed.append(text)

    def run(self, step, args, **options):
        self.calls.append(args)
        words = " ".join(str(a) for a in args[:4])
        key = next(k for k in self.answers if words.startswith(k))
        answers = self.answers[key]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, AzFailed):
            raise answer
        if args[:4] == ["storage", "fs", "file", "download"]:  # az writes the file and prints nothing
            open(args[args.index("--destination") + 1], "wb").close()
        return answer


def failed(*stderr: str, code: int = 1) -> AzFailed:
    return AzFailed("verify", "az ...", code, list(stderr))


def target() -> Target:
    return Target(Settings(account="mydatalake"), SUB, SP["appId"], SP["tenant"], SECRET, None, ACC_ID, AML_ID)


def answers(data: list, workspace: list | None = None, listing: list | None = None) -> dict:
    return {"login": [[{"id": SUB}]], "storage fs file download": data,
            "storage fs file list": listing or [[{"name": "models/highspenders/input.csv"}]],
            "ml workspace show": workspace or [{"id": AML_ID}]}  # fmt: skip


class NoDiagnosis:
    def principal(self):
        return None

    def scope(self, *args):
        return None


def principal_checks(tmp_path, runner, clock, timeout=600.0, diagnosis=None):
    (tmp_path / "cfg").mkdir(exist_ok=True)
    checks = AsPrincipal(target(), runner, str(tmp_path / "cfg"), diagnosis or NoDiagnosis(),
                         Pace(timeout=timeout, first_delay=5, clock=clock, sleep=clock.sleep)).checks()  # fmt: skip
    return {check.check: check for check in checks}


def test_a_403_is_waited_out_with_backoff_then_the_check_holds(tmp_path):
    clock = Clock()
    data = [failed(*FORBIDDEN_291), failed(*FORBIDDEN_SERVICE), failed(*FORBIDDEN_291), None]
    runner = Scripted(answers(data))
    checks = principal_checks(tmp_path, runner, clock)
    assert {name: c.status for name, c in checks.items()} == dict.fromkeys(("sign-in", "read", "list", "workspace"), OK)
    assert clock.sleeps == [5, 10, 20]
    assert checks["read"].waited == 35 and checks["list"].waited == 0
    waits = [line for line in runner.echoed if line.startswith("wait read")]
    assert waits[0].endswith("waited 0s of 600s (--timeout), next try in 5s")
    assert "403 as the principal" in waits[0] and "waited 35s" not in waits[-1]
    # The secret goes to az as a Secret (an @file the runner hands over), never as text in argv.
    [login] = [args for args in runner.calls if args[0] == "login"]
    assert Joined(("--password=", Secret(SECRET))) in login and SECRET not in [str(a) for a in login]


def test_past_the_timeout_the_waiting_checks_fail_with_the_causes(tmp_path):
    clock = Clock()
    runner = Scripted(answers([failed(*FORBIDDEN_291)], [failed("ERROR: (AuthorizationFailed) The client ...")],
                              [failed(*FORBIDDEN_SERVICE)]))
    checks = principal_checks(tmp_path, runner, clock, timeout=100)
    assert clock.sleeps == [5, 10, 20, 40, 25]  # doubling, the last one cut to the deadline
    for name in ("read", "list", "workspace"):
        assert checks[name].status == FAIL and "still after 100s (--timeout 100)" in checks[name].detail
        assert [cause.split(":")[0] for cause, _ in checks[name].causes] == [
            "still propagating", "wrong scope", "principal replaced", "secret expired or replaced"]
    assert checks["sign-in"].status == OK
    text = "\n".join(lines(list(checks.values())))
    assert f"shows it: az ad sp show --id {SP['appId']}" in text


def test_an_expired_secret_fails_at_once_without_waiting(tmp_path):
    clock = Clock()
    runner = Scripted({"login": [failed("ERROR: AADSTS7000222: The provided client secret keys for app ... are expired.")]})
    checks = principal_checks(tmp_path, runner, clock)
    assert clock.sleeps == [] and checks["sign-in"].status == FAIL and "has expired" in checks["sign-in"].detail
    assert {checks[name].status for name in ("read", "list", "workspace")} == {SKIP}


def test_a_wrong_scope_found_by_the_diagnosis_fails_at_once(tmp_path):
    class WrongScope(NoDiagnosis):
        def scope(self, roles, target_id, what):
            return (f"no role on {what}", "give it the role") if target_id == ACC_ID else None

    clock = Clock()
    runner = Scripted(answers([failed(*FORBIDDEN_SERVICE)]))
    checks = principal_checks(tmp_path, runner, clock, diagnosis=WrongScope())
    assert clock.sleeps == [] and checks["read"].detail == "no role on storage account mydatalake"
    assert checks["workspace"].status == OK


def test_a_principal_that_sees_no_subscription_signs_in_again(tmp_path):
    clock = Clock()
    not_seen = failed(f"ERROR: Subscription '{SUB}' not found. Check the spelling and casing and try again.")
    runner = Scripted(answers([None], [not_seen, {"id": AML_ID}]))
    checks = principal_checks(tmp_path, runner, clock)
    assert checks["workspace"].status == OK
    assert [args[0] for args in runner.calls].count("login") == 2  # az refreshes its subscriptions on a sign-in


# --------------------------------------------------------------------------- the commands' usage errors


def test_verify_without_a_setup_and_with_a_bad_timeout_exits_2_running_nothing(cli, fake):
    missing = cli("verify")
    assert missing.exit_code == 2 and "no complete setup is recorded" in missing.stderr
    bad = cli("verify", "--timeout", "-1")
    assert bad.exit_code == 2 and "is not a number of seconds" in bad.stderr
    assert cli("all", "--account", "mydatalake", "--verify", "--verify-timeout", "nan").exit_code == 2
    assert fake.calls() == []


def test_sdk_config_without_a_workspace_exits_2(cli, workdir):
    result = cli("sdk-config")
    assert result.exit_code == 2 and "no workspace is recorded" in result.stderr
    assert not (workdir / ".azureml").exists()
