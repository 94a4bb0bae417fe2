"""--help as a newcomer reads it: what is the book's and what is azwrap's, no options that do not
concern the command, and the options people set first."""

import re


def options(help_text: str) -> list[str]:
    return re.findall(r"^  (?:-\w, )?(--[\w-]+)", help_text.split("\nOptions:\n", 1)[1], re.M)


def test_datastore_help_says_detach_is_azwraps_not_the_books(cli):
    text = cli("datastore", "--help").stdout
    book = text.split("Runs, as in the book:", 1)[1].split("\n\n  Not in the book", 1)[0]
    assert "attach-adls-gen2" in book and "detach" not in book.replace("attach-adls-gen2", "")
    assert re.search(r"Not in the book: .*\n(.*\n)*?\s+az ml datastore detach --name MLData", text)


def test_login_help_offers_no_state_file_or_secret_store(cli):
    listed = options(cli("login", "--help").stdout)
    assert "--state-file" not in listed and "--secret-store" not in listed
    assert "--tenant" in listed and "--use-device-code" in listed


def test_login_still_takes_the_state_file_it_hides(cli, workdir):
    result = cli("login", "--state-file", "elsewhere/s.json", "--secret-store", "file", "--help")
    assert result.exit_code == 0  # accepted (AZWRAP_STATE too): the lock and the call log use it


def test_all_help_lists_the_options_people_set_first(cli):
    assert options(cli("all", "--help").stdout)[:5] == ["--account", "--source", "--ml-cli", "--location",
                                                         "--subscription"]  # fmt: skip
