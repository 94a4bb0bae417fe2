"""azwrap's own read of the new principal's password (`az ad app credential list`) right after
create-for-rbac: Graph may not know the new app yet and answers its not-found (exit 1); retried like
the role assignments, and only for that app."""

import json

from .conftest import ACCOUNT, BOOK, FRESH_STEP, KEY_ID, OWN, SP, absent, key_id_read, seed_state
from .test_replication import clock, cli_clock  # noqa: F401  (fixtures)

CREATE = BOOK[9][1]
NOT_REPLICATED = (f"ERROR: Resource '{SP['appId']}' does not exist or one of its queried reference-property objects "
                  "are not present.\n")  # fmt: skip


def register_sp(fake, read_failures: list[str]):
    """`azwrap sp` on a setup whose storage is done: its key id read fails with each stderr first."""
    fake.logged_in()
    for args in FRESH_STEP["sp"]:
        fake.on(args, **absent(args))
    for index, (name, args) in enumerate(BOOK):
        if name != "sp":
            continue
        fake.on(args)
        for own, answer in OWN.get(index, ()):
            for stderr in read_failures:
                fake.on(own, returncode=1, stdout="", stderr=stderr)
            fake.on(own, stdout=json.dumps(answer))


def state(workdir) -> dict:
    return json.loads((workdir / ".azwrap" / "state.json").read_text())


def test_the_key_id_read_is_retried_while_graph_has_not_replicated_the_new_app(fake, cli, workdir, cli_clock):  # noqa: F811
    seed_state(workdir, done=["storage"])
    register_sp(fake, [NOT_REPLICATED] * 2)
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert fake.calls().count(key_id_read(SP["appId"])) == 3 and cli_clock.sleeps == [2.0, 4.0]
    assert "the new app is not visible to Graph yet (directory replication); retrying in 2s" in result.stderr
    assert state(workdir)["resources"]["sp"]["identity"] == {"keyId": KEY_ID}


def test_a_not_found_naming_another_app_is_not_retried(fake, cli, workdir, cli_clock):  # noqa: F811
    seed_state(workdir, done=["storage"])
    other = NOT_REPLICATED.replace(SP["appId"], "0a0a0a0a-1111-2222-3333-444455556666")
    register_sp(fake, [other])
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 1 and cli_clock.sleeps == []
    assert fake.calls().count(key_id_read(SP["appId"])) == 1


def test_giving_up_on_the_key_id_read_says_graph_and_how_long(fake, cli, workdir, cli_clock):  # noqa: F811
    seed_state(workdir, done=["storage"])
    register_sp(fake, [NOT_REPLICATED] * 20)
    result = cli("sp", "--account", ACCOUNT, "--retry-timeout", "10")
    assert result.exit_code == 1
    assert "the new app was still not visible to Graph after 3 tries" in result.stderr
    assert state(workdir)["outputs"]["sp"]["appId"] == SP["appId"]  # the new principal stays recorded
    assert CREATE in fake.calls()
