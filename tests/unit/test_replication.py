"""Directory replication: every role assignment is retried with a doubling, capped delay, within a budget.

Apply runs against faked az calls (fp) with a fake clock: sleeping advances it, nothing really
waits, so the README's figures (2 s doubling, at most 30 s between tries, 300 s in all) are asserted
exactly.
"""

import json

import pytest

import azwrap.cli.run
from azwrap.az.redact import Redactor
from azwrap.az.runner import AzFailed, Runner
from azwrap.book.settings import Settings
from azwrap.book.steps import BY_NAME
from azwrap.core.apply import Apply
from azwrap.core.plan import Action, Plan
from azwrap.core.session import Session

from .conftest import OWN, ACC_ID, ACCOUNT, AML_ID, BOOK, FRESH_STEP, SP, absent, seed_state

APP = SP["appId"]
OBJECT_ID = "0f14a80d42e54d57afe046acf9dfae05"
# What az prints while a new principal is not visible everywhere yet, as seen from real runs.
REPLICATION_STDERR = {
    # Graph has not replicated: az cannot turn the appId into an object id (azure-cli's role module).
    "graph": f"ERROR: Cannot find user or service principal in graph database for '{APP}'. If the assignee is an "
             f"appId, make sure the corresponding service principal is created with 'az ad sp create --id {APP}'.\n",
    # Graph knows it, ARM does not yet: az 2.9x prints an ARM error as "(Code) Message", Code:, Message:.
    "arm": f"ERROR: (PrincipalNotFound) Principal {OBJECT_ID} does not exist in the directory {SP['tenant']}. Check "
           "that you have the correct principal ID. If you are creating this principal and then immediately "
           "assigning a role, this error might be related to a replication delay. In this case, set the role "
           "assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See "
           f"https://aka.ms/docs-principaltype\nCode: PrincipalNotFound\nMessage: Principal {OBJECT_ID} does not "
           f"exist in the directory {SP['tenant']}.\n",
    # The same ARM error with its message only, as older az versions print it (Azure/azure-cli#26700).
    "arm-message-only": f"ERROR: Principal {OBJECT_ID} does not exist in the directory {SP['tenant']}. Check that you "
                        "have the correct principal ID.\n",
    # The error code alone, as in an ARM deployment's error list.
    "arm-code-only": 'ERROR: {"code": "PrincipalNotFound"}\n',
}  # fmt: skip
ROLE_CALL = {"sp": BOOK[11][1], "grant": BOOK[14][1]}  # the role assignment each step makes


class FakeClock:
    """time.monotonic and time.sleep in one: sleeping moves the clock on."""

    def __init__(self):
        self.now, self.sleeps = 1000.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


def earlier_steps(workdir, step):
    """The state earlier sessions left for `step`: the steps it builds on done, and for grant the principal."""
    seed_state(workdir, done=BY_NAME[step].needs, sp=step == "grant")


def register_step(fake, step, failures, stderr):
    """The step's calls, its role assignment failing `failures` times first (with stderr, or each of a list)."""
    messages = [stderr] * failures if isinstance(stderr, str) else stderr
    fake.logged_in()  # a step command checks the subscription first
    for args in FRESH_STEP[step]:  # its refresh: nothing it guards
        fake.on(args, **absent(args))
    for index, (name, args) in enumerate(BOOK):
        if name != step:
            continue
        if args == ROLE_CALL[step]:
            for message in messages:
                fake.on(args, returncode=1, stdout="", stderr=message)
        fake.on(args)
        for own, answer in OWN.get(index, ()):  # azwrap's own call after a creation
            fake.on(own, stdout=json.dumps(answer))


def role_assignment_for(fake, workdir, clock, step, failures, stderr, **options):
    """Apply's call of the step's role assignment alone (its $sp, $acc and $aml recorded), failing
    `failures` times first; returns what it printed."""
    (workdir / ".azwrap").mkdir(mode=0o700)
    path = workdir / ".azwrap" / "state.json"
    path.write_text(json.dumps({"version": 1, "steps": {}, "outputs": {
        "sp": {k: SP[k] for k in ("appId", "password", "tenant")}, "acc": {"id": ACC_ID}, "aml": {"id": AML_ID}}}))
    path.chmod(0o600)
    for _ in range(failures):
        fake.on(ROLE_CALL[step], returncode=1, stdout="", stderr=stderr)
    fake.on(ROLE_CALL[step])
    session = Session(Settings(account=ACCOUNT), Runner(fake.path, Redactor(), quiet=True, echo=lambda line: None), path)
    [role] = [inv for inv in BY_NAME[step].invocations(session.settings) if inv.retry_replication and not inv.own]
    return Apply(session, Plan(()), sleep=clock.sleep, clock=clock, **options).call(Action(step, role, "a test"))


@pytest.fixture
def role_call(fake, workdir, clock):
    return lambda step, failures, stderr, **options: role_assignment_for(fake, workdir, clock, step, failures, stderr,
                                                                        **options)  # fmt: skip


@pytest.mark.parametrize("text", list(REPLICATION_STDERR))
@pytest.mark.parametrize("step", ["sp", "grant"])
def test_every_role_assignment_is_retried_on_each_replication_error(step, text, fake, role_call, clock):
    assert role_call(step, 2, REPLICATION_STDERR[text])["id"].endswith("/roleAssignments/1")
    assert fake.calls() == [ROLE_CALL[step]] * 3
    assert clock.sleeps == [2.0, 4.0]


@pytest.mark.parametrize("step", ["sp", "grant"])
def test_backoff_doubles_from_2s_to_at_most_30s_and_gives_up_after_the_retry_timeout(step, fake, role_call, clock):
    start = clock.now
    with pytest.raises(AzFailed) as failed:
        role_call(step, 20, REPLICATION_STDERR["graph"])
    # 2+4+8+16 = 30 s, then 30 s at a time: 9 more tries fit in the 300 s budget, a 10th would not.
    assert clock.sleeps == [2.0, 4.0, 8.0, 16.0] + [30.0] * 9
    assert clock.now - start == 300.0
    assert fake.calls().count(ROLE_CALL[step]) == 14
    assert failed.value.exit_code == 1 and "Cannot find user or service principal" in failed.value.stderr_tail[-1]


def test_a_budget_that_ends_between_tries_stops_before_the_next_sleep(fake, role_call, clock):
    with pytest.raises(AzFailed):
        role_call("grant", 20, REPLICATION_STDERR["arm"], retry_timeout=20.0)
    assert clock.sleeps == [2.0, 4.0, 8.0]  # 14 s slept; waiting 16 s more would overrun 20 s
    assert fake.calls().count(ROLE_CALL["grant"]) == 4


# --- the same through the command line: --retry-timeout and AZWRAP_RETRY_DELAY reach apply ---


@pytest.fixture
def cli_clock(monkeypatch, clock):
    """azwrap's CLI applies its plan with the fake clock."""
    monkeypatch.setattr(azwrap.cli.run, "SLEEP", clock.sleep)
    monkeypatch.setattr(azwrap.cli.run, "CLOCK", clock)
    return clock


def test_retry_timeout_option_sets_the_budget(fake, cli, workdir, cli_clock):
    earlier_steps(workdir, "grant")
    register_step(fake, "grant", 20, REPLICATION_STDERR["graph"])
    result = cli("grant", "--retry-timeout", "10")
    assert result.exit_code == 1
    assert cli_clock.sleeps == [2.0, 4.0]  # a third wait (8 s) would end at 14 s
    assert fake.calls().count(ROLE_CALL["grant"]) == 3
    assert ("Error: step 'grant' failed (exit 1; the principal was still not visible to role assignments after 3 tries "
            "over 6s (--retry-timeout 10)") in result.stderr
    assert "Cannot find user or service principal in graph database" in result.stderr
    assert result.stderr.count("(directory replication); retrying in") == 2


def test_default_budget_is_300s_from_the_command_line(fake, cli, workdir, cli_clock):
    earlier_steps(workdir, "grant")
    register_step(fake, "grant", 20, REPLICATION_STDERR["arm"])
    assert cli("grant").exit_code == 1
    assert sum(cli_clock.sleeps) == 300.0 and max(cli_clock.sleeps) == 30.0


def test_retry_delay_variable_sets_the_first_delay(fake, cli, workdir, cli_clock, monkeypatch):
    monkeypatch.setenv("AZWRAP_RETRY_DELAY", "0.5")
    earlier_steps(workdir, "sp")
    register_step(fake, "sp", 3, REPLICATION_STDERR["graph"])
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert cli_clock.sleeps == [0.5, 1.0, 2.0]
    assert "retrying in 0.5s" in result.stderr and "retrying in 2s" in result.stderr


@pytest.mark.parametrize("failures", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("step", ["sp", "grant"])
def test_one_to_five_replication_failures_end_in_success(step, failures, fake, cli, workdir, cli_clock):
    earlier_steps(workdir, step)
    texts = list(REPLICATION_STDERR.values())
    # The messages alternate, as Graph and ARM catch up at their own pace.
    register_step(fake, step, failures, [texts[index % len(texts)] for index in range(failures)])
    result = cli(step, *(["--account", ACCOUNT] if step == "sp" else []))
    assert result.exit_code == 0, result.output
    assert fake.calls().count(ROLE_CALL[step]) == failures + 1
    assert result.stderr.count("(directory replication); retrying in") == failures


@pytest.mark.parametrize("step", ["sp", "grant"])
def test_another_role_assignment_error_fails_at_once(step, fake, cli, workdir, cli_clock):
    earlier_steps(workdir, step)
    register_step(fake, step, 1, "ERROR: (AuthorizationFailed) The client does not have authorization to perform "
                                 "action 'Microsoft.Authorization/roleAssignments/write'.\n")  # fmt: skip
    result = cli(step, *(["--account", ACCOUNT] if step == "sp" else []))
    assert result.exit_code == 1
    assert fake.calls().count(ROLE_CALL[step]) == 1
    assert "(AuthorizationFailed)" in result.stderr and cli_clock.sleeps == []
