"""The az calls of `azwrap verify` as the principal: its sign-in, and the data plane it must reach."""

from __future__ import annotations

from .commands import SP_PASSWORD, Args, Concat
from .settings import Settings


def login_service_principal(app_id: str, tenant: str) -> Args:
    """The principal's sign-in. `--password=@file`, never `-p @file`: after az reads the file, a secret that
    starts with '-' would be taken for a flag. `--allow-no-subscriptions`: a principal whose roles are all
    below the subscription (or not applied yet) sees no subscription, and its data-plane checks need none."""
    return ("login", "--service-principal", "--username", app_id, Concat(("--password=", SP_PASSWORD)),
            "--tenant", tenant, "--allow-no-subscriptions")  # fmt: skip


def storage_fs_file_download(s: Settings, destination: str) -> Args:
    # A destination without a directory part is taken for a directory by az 2.91: pass a full path.
    return ("storage", "fs", "file", "download", "--file-system", s.filesystem, "--path", s.upload_path,
            "--destination", destination, "--account-name", s.account, "--auth-mode", "login",
            "--overwrite", "true")  # fmt: skip


def storage_fs_file_list(s: Settings, directory: str) -> Args:
    where = ("--path", directory) if directory else ()
    return ("storage", "fs", "file", "list", "--file-system", s.filesystem, *where, "--account-name", s.account,
            "--auth-mode", "login", "--recursive", "false")  # fmt: skip
