"""Directory replication: every role assignment is retried with a doubling, capped delay, within a budget.

The engine runs against faked az calls (fp) with a fake clock: sleeping advances it, nothing really
waits, so the README's figures (2 s doubling, at most 30 s between tries, 300 s in all) are asserted
exactly.
"""

import functools

import pytest

import azwrap.cli.run
from azwrap.core.engine import Setup
from azwrap.az.redact import Redactor
from azwrap.az.runner import AzFailed, Runner
from azwrap.book.settings import Settings
from azwrap.book.steps import BY_NAME

from .conftest import ACCOUNT, BOOK, SP, seed_state

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
    for name, args in BOOK:
        if name != step:
            continue
        if args == ROLE_CALL[step]:
            for message in messages:
                fake.on(args, returncode=1, stdout="", stderr=message)
        fake.on(args)


def setup_for(workdir, az_path, clock, **options) -> Setup:
    runner = Runner(az_path, Redactor(), quiet=True, echo=lambda line: None)
    return Setup(Settings(account=ACCOUNT), runner, workdir / ".azwrap" / "state.json", sleep=clock.sleep,
                 clock=clock, **options)  # fmt: skip


@pytest.mark.parametrize("text", list(REPLICATION_STDERR))
@pytest.mark.parametrize("step", ["sp", "grant"])
def test_every_role_assignment_is_retried_on_each_replication_error(step, text, fake, workdir, az_path, clock):
    earlier_steps(workdir, step)
    register_step(fake, step, 2, REPLICATION_STDERR[text])
    setup_for(workdir, az_path, clock).run_step(BY_NAME[step])
    assert fake.calls().count(ROLE_CALL[step]) == 3
    assert clock.sleeps == [2.0, 4.0]


@pytest.mark.parametrize("step", ["sp", "grant"])
def test_backoff_doubles_from_2s_to_at_most_30s_and_gives_up_after_the_retry_timeout(step, fake, workdir, az_path, clock):
    earlier_steps(workdir, step)
    register_step(fake, step, 20, REPLICATION_STDERR["graph"])
    setup = setup_for(workdir, az_path, clock)
    start = clock.now
    with pytest.raises(AzFailed) as failed:
        setup.run_step(BY_NAME[step])
    # 2+4+8+16 = 30 s, then 30 s at a time: 9 more tries fit in the 300 s budget, a 10th would not.
    assert clock.sleeps == [2.0, 4.0, 8.0, 16.0] + [30.0] * 9
    assert clock.now - start == 300.0
    assert fake.calls().count(ROLE_CALL[step]) == 14
    assert failed.value.exit_code == 1 and "Cannot find user or service principal" in failed.value.stderr_tail[-1]


def test_a_budget_that_ends_between_tries_stops_before_the_next_sleep(fake, workdir, az_path, clock):
    earlier_steps(workdir, "grant")
    register_step(fake, "grant", 20, REPLICATION_STDERR["arm"])
    with pytest.raises(AzFailed):
        setup_for(workdir, az_path, clock, retry_timeout=20.0).run_step(BY_NAME["grant"])
    assert clock.sleeps == [2.0, 4.0, 8.0]  # 14 s slept; waiting 16 s more would overrun 20 s
    assert fake.calls().count(ROLE_CALL["grant"]) == 4


# --- the same through the command line: --retry-timeout and AZWRAP_RETRY_DELAY reach the engine ---


@pytest.fixture
def cli_clock(monkeypatch, clock):
    """azwrap's CLI builds its Setup with the fake clock."""
    monkeypatch.setattr(azwrap.cli.run, "Setup", functools.partial(Setup, sleep=clock.sleep, clock=clock))
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
