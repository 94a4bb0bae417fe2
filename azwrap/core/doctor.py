"""`azwrap doctor`: read-only checks that tell, before anything is created, what would fail."""

from __future__ import annotations

import datetime
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..book import commands as az
from . import lifecycle, planning
from .session import sha256_of
from ..book.settings import DEFAULTS
from ..store import secrets
from ..store import state as state_file
from ..book.ml import DIALECTS, other_dialect
from ..book.quoting import shown
from ..az.runner import INSTALL_HINT, AzFailed, AzNotFound, find_az

OK, FAIL, NOTE, SKIP = "ok", "FAIL", "note", "skip"


@dataclass(frozen=True)
class Check:
    check: str
    status: str  # ok, FAIL, note (passes, with something to know), skip (could not be checked)
    detail: str
    fix: str = ""


def az_program(given: str | None) -> Check:
    try:
        return Check("az", OK, find_az(given))
    except AzNotFound as error:
        return Check("az", FAIL, str(error).split(". ")[0], INSTALL_HINT)


# The checks that matter only before something is created, by what it is (az invocation words).
BEFORE_CREATING = {"location": (("group", "create"), ("ml", "workspace", "create")),
                   "account": (("storage", "account", "create"),),
                   "rights": (("role", "assignment", "create"),),
                   "extension": (("extension", "add"),)}  # fmt: skip


def needed(plan) -> set[str]:
    """The checks a plan calls for: those of what it creates; none of them when it creates nothing."""
    if plan is None:
        return set(BEFORE_CREATING) | {"az"}
    made = [tuple(action.invocation.args) for action in plan.actions if action.changes]
    wanted = {name for name, words in BEFORE_CREATING.items() if any(args[: len(w)] == w for args in made for w in words)}
    return wanted | ({"az"} if made else set())


def run(setup, az_check: Check, *, secret_expiry: bool = True, plan=None, force: frozenset = frozenset()) -> list[Check]:
    """Every check in order (with a plan: only those that matter for what it does); az calls go through
    the session's runner (read-only probes only)."""
    if az_check.status == FAIL:
        return [az_check]
    wanted = needed(plan)
    checks = []
    # These need a working sign-in: after a failed token check, az would only repeat its error.
    needs_token = {"location", "account", "rights"}
    for name, check in (("az", lambda: [_version(setup, az_check)]), ("login", lambda: [_login(setup)]),
                        ("token", lambda: [_token(setup)]), ("extension", lambda: _extensions(setup)),
                        ("location", lambda: [_location(setup)]), ("account", lambda: [_account(setup)]),
                        ("rights", lambda: [_rights(setup)])):  # fmt: skip
        if name in (*BEFORE_CREATING, "az") and name not in wanted:
            continue
        if name in needs_token and any(c.check == "token" and c.status == FAIL for c in checks):
            checks.append(Check(name, SKIP, "not checked: the sign-in does not work"))
            continue
        if name == "extension" and any(c.check == "az" and c.status == FAIL for c in checks):
            checks.append(Check(name, SKIP, "not checked: `az version` failed"))  # it names the extensions
            continue
        try:
            checks += check()
        except AzFailed as error:
            what = error.reason or f"exit {error.exit_code}"
            checks.append(Check(name, FAIL, f"{error.command}: {what}", " ".join(error.stderr_tail[-1:])))
    checks += [_source(setup.settings.source), _upload(setup, force), _state(setup.state_path), _state_writable(setup.state_path),
               _secret_store(setup)]
    if secret_expiry:
        checks += _secret(setup)
    return checks


def _secret(setup) -> list[Check]:
    """A note when the recorded secret expires within 30 days (create-for-rbac's last one year)."""
    sp = state_file.peek(setup.state_path)["outputs"].get("sp")
    if not sp or not setup.signed_in():
        return []
    setup.runner.redact.add(sp.get("password"))
    try:
        note = lifecycle.expiry_note(setup, sp["appId"], sp.get("password"))
    except AzFailed as error:
        return [Check("secret", SKIP, f"az ad app credential list failed ({error.reason or f'exit {error.exit_code}'})")]
    if note is None:
        return [Check("secret", OK, f"the secret of {sp['appId']} is valid for more than "
                                    f"{lifecycle.EXPIRY_WARNING_DAYS} days")]  # fmt: skip
    kind, detail = note
    fix = "azwrap all --force sp (a new principal)" if kind == "gone" else "azwrap rotate (a new secret)"
    return [Check("secret", NOTE, detail, fix)]


def _probe(setup, args, shape=dict, **options):
    return setup.runner.run("doctor", list(args), capture=True, shape=shape, probe=True, **options)


def _version(setup, az_check: Check) -> Check:
    try:
        versions = _probe(setup, az.version())
    except AzFailed as error:
        return Check("az", FAIL, f"{az_check.detail}: `az version` failed ({error.reason or f'exit {error.exit_code}'})",
                     INSTALL_HINT)
    started = setup.runner.launch
    how = ""
    if started.prefix[0] != started.program:
        how = f", run as {started.prefix[0]} {' '.join(started.prefix[1:])} (the MSI's az.cmd, without cmd.exe)"
    elif started.via_cmd:
        how = " (a batch file run through cmd.exe: values holding & | < > ^ % ( ) \" ! are refused)"
    return Check("az", OK, f"azure-cli {versions.get('azure-cli', '?')} at {az_check.detail}{how}")


def _login(setup) -> Check:
    if not setup.signed_in():
        return Check("login", FAIL, "not signed in (az account show failed)", "run `az login` (`azwrap all` does it for you)")
    account = setup.account
    return Check("login", OK, f"signed in to subscription {shown(account.get('name'))} ({account.get('id')})")


def _az_said(error: AzFailed) -> str:
    """The line of az's stderr that says what went wrong (its ERROR line, else its last)."""
    tail = error.stderr_tail
    said = next((line for line in tail if line.startswith("ERROR")), tail[-1] if tail else "")
    return said or error.reason or f"exit {error.exit_code}"


def _token(setup) -> Check:
    if not setup.signed_in():
        return Check("token", SKIP, "not signed in")
    try:
        expires = token_expiry(_probe(setup, az.access_token_expiry(), object))
    except AzFailed as error:
        return Check("token", FAIL, f"the sign-in no longer works (az account get-access-token: {_az_said(error)})",
                     "run `azwrap login`")  # fmt: skip
    return Check("token", OK, "the sign-in works" + (f" (a token valid until {expires})" if expires else ""))


def token_expiry(answer) -> str | None:
    """When the token az got expires, for people, from `[expires_on, expiresOn]`: expires_on (POSIX seconds;
    an int, or a numeric string in older CLIs) in local time, else the deprecated expiresOn as az wrote it
    (local time already). None when az printed neither: the sign-in works all the same."""
    posix, local = (list(answer) + [None, None])[:2] if isinstance(answer, list) else (answer, None)
    if isinstance(posix, str) and not posix.strip().isdigit():
        posix, local = None, posix  # an az that printed the local time where seconds were asked
    try:
        when = datetime.datetime.fromtimestamp(int(posix)).astimezone()
        return when.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except (TypeError, ValueError, OverflowError, OSError):
        return local if isinstance(local, str) and local.strip() else None


def _location(setup) -> Check:
    wanted = setup.settings.location
    if not setup.signed_in():
        return Check("location", SKIP, f"{wanted}: not checked, not signed in")
    locations = _probe(setup, az.account_list_locations(), list)
    # ARM takes a region by name or display name, ignoring case and spaces ('Central US' = centralus).
    known = {_region_key(region.get(key)) for region in locations if isinstance(region, dict) for key in ("name", "displayName")}
    if _region_key(wanted) in known:
        return Check("location", OK, f"{wanted} is a region of this subscription")
    return Check("location", FAIL, f"{shown(wanted)} is not a region of this subscription (az account list-locations)",
                 "choose --location from `az account list-locations --query [].displayName`")  # fmt: skip


def _region_key(name) -> str:
    return str(name or "").replace(" ", "").lower()


# Built-in roles that may create role assignments (the sp and grant steps do).
ASSIGNERS = ("Owner", "User Access Administrator", "Role Based Access Control Administrator")
# Built-in roles that may not; any other role (a custom one) might, so doctor cannot tell.
NOT_ASSIGNERS = {"Contributor", "Reader", "Storage Account Contributor", "Storage Blob Data Contributor",
                 "Storage Blob Data Owner", "Storage Blob Data Reader", "AzureML Data Scientist",
                 "AzureML Compute Operator"}  # fmt: skip
NEEDS_ASSIGNER = ("the sp and grant steps create role assignments: they need Owner, User Access Administrator or "
                  "Role Based Access Control Administrator on the subscription or the resource groups")  # fmt: skip


def _rights(setup) -> Check:
    if not setup.signed_in():
        return Check("rights", SKIP, "not signed in")
    account = setup.account
    who, subscription = (account.get("user") or {}).get("name"), str(account.get("id", ""))
    if not who:
        return Check("rights", NOTE, "cannot tell who is signed in (az account show has no user name)", NEEDS_ASSIGNER)
    try:
        assignments = [a for a in _probe(setup, az.role_assignments_held_by(who), list) if isinstance(a, dict)]
    except AzFailed as error:
        return Check("rights", NOTE, f"cannot tell whether {who} may create role assignments ({_az_said(error)})",
                     NEEDS_ASSIGNER)  # fmt: skip
    groups = (setup.settings.aml_group, setup.settings.adls_group)

    def covers(assignment, group) -> bool:
        scope = str(assignment.get("scope", "")).rstrip("/").lower()
        return (scope in ("", f"/subscriptions/{subscription}".lower(), f"/subscriptions/{subscription}/resourcegroups/{group}".lower())
                or scope.startswith("/providers/microsoft.management/managementgroups/"))  # fmt: skip

    assigners = [a for a in assignments if a.get("roleDefinitionName") in ASSIGNERS]
    plain = [a for a in assigners if not a.get("condition")]
    if all(any(covers(a, group) for a in plain) for group in groups):
        roles = sorted({a["roleDefinitionName"] for a in plain if any(covers(a, group) for group in groups)})
        return Check("rights", OK, f"{who} may create role assignments ({', '.join(roles)})")
    if all(any(covers(a, group) for a in assigners) for group in groups):
        # Role Based Access Control Administrator is often given with a condition on the roles it may assign.
        return Check("rights", NOTE, f"{who} may create role assignments only under a condition; cannot tell "
                                     "whether it allows Storage Blob Data Contributor and Contributor", NEEDS_ASSIGNER)  # fmt: skip
    others = sorted({str(a.get("roleDefinitionName")) for a in assignments} - NOT_ASSIGNERS - set(ASSIGNERS))
    if others:
        return Check("rights", NOTE, f"cannot tell whether {who}'s role(s) {', '.join(others)} allow creating role "
                                     "assignments", NEEDS_ASSIGNER)  # fmt: skip
    held = sorted({str(a.get("roleDefinitionName")) for a in assignments}) or ["none"]
    return Check("rights", FAIL, f"{who} may not create role assignments on {' and '.join(groups)} (roles held: "
                 f"{', '.join(held)}): the sp step would fail after creating the principal",
                 "ask an Owner of the subscription for User Access Administrator or Role Based Access Control "
                 "Administrator (activate it first if it is eligible through PIM)")  # fmt: skip


def _extensions(setup) -> list[Check]:
    dialect = DIALECTS[setup.settings.ml_cli]
    checks = []
    if dialect.name == "v1":
        checks.append(Check("ml-cli", NOTE, "v1 follows the book, but its azure-cli-ml extension is retired "
                                            "(support ended 2025-09-30)", "use --ml-cli v2 for new setups"))  # fmt: skip
    try:
        # `az version` lists the extensions with their versions (and refresh asked it already).
        installed = _probe(setup, az.version()).get("extensions") or {}
    except AzFailed as error:
        return [*checks, Check("extension", FAIL, f"`az version` failed ({error.reason or f'exit {error.exit_code}'})")]
    other = other_dialect(dialect)
    if other.extension in installed:
        checks.append(Check("extension", FAIL, f"{other.extension} ({other.name}) is installed and cannot stay beside "
                            f"{dialect.extension} ({dialect.name})", az.extension_remove_line(other.extension)))
    elif dialect.extension in installed:
        checks.append(Check("extension", OK, f"{dialect.extension} {installed[dialect.extension]} installed"))
    elif dialect.name == "v1":
        checks.append(_v1_offered(setup))
    else:
        checks.append(Check("extension", OK, f"{dialect.extension} not installed yet; the extension step adds it"))
    return checks


def _v1_offered(setup) -> Check:
    """The retired azure-cli-ml may no longer be in the extension index (which needs the network)."""
    extension = DIALECTS["v1"].extension
    try:
        offered = {ext.get("name") for ext in _probe(setup, az.extension_list_available(), list) if isinstance(ext, dict)}
    except AzFailed as error:
        return Check("extension", NOTE, f"{extension} not installed; cannot tell whether the extension index still "
                                        f"offers it ({_az_said(error)})", "use --ml-cli v2")  # fmt: skip
    if extension in offered:
        return Check("extension", OK, f"{extension} not installed yet; the extension index offers it, the extension step adds it")
    return Check("extension", FAIL, f"{extension} is not installed and the extension index no longer offers it",
                 "use --ml-cli v2 (the current ml extension)")  # fmt: skip


def _account(setup) -> Check:
    settings = setup.settings
    if settings.account is None:
        return Check("account", SKIP, "no --account given")
    if not setup.signed_in():
        return Check("account", SKIP, f"{settings.account}: not checked, not signed in")
    answer = _probe(setup, az.storage_account_check_name(settings))
    if answer.get("nameAvailable"):
        return Check("account", OK, f"{settings.account} is available")
    if answer.get("reason") == "AlreadyExists":
        # Taken by an account in the user's own ADLS group is fine: storage account create is a PUT.
        mine = _probe(setup, az.storage_account_show_in_group(settings), not_found_ok=True)
        if mine is not None:
            return Check("account", OK, f"{settings.account} exists in your resource group {settings.adls_group}; reused")
        return Check("account", FAIL, f"{settings.account} is taken by another Azure account",
                     "choose another --account (globally unique)")  # fmt: skip
    return Check("account", FAIL, f"{settings.account}: {answer.get('message') or answer.get('reason')}",
                 "choose another --account")  # fmt: skip


def _source(source: str) -> Check:
    path = Path(source)
    if path.is_file() and os.access(path, os.R_OK):
        return Check("source", OK, f"{source} ({path.stat().st_size} bytes)")
    what = "is a directory" if path.is_dir() else "is not readable" if path.exists() else "does not exist"
    return Check("source", FAIL, f"{source} {what}", "create the file, or name it with --source")


def upload_differs(settings, state: dict) -> bool:
    """Whether the source differs from the file `state` records as uploaded to the same place."""
    record = state["steps"].get("upload")
    if record is None:
        return False
    ran_with = record.get("settings", {})
    if any(ran_with.get(name, getattr(DEFAULTS, name)) != getattr(settings, name) for name in planning.UPLOAD_DESTINATION):
        return False  # another destination: a new upload
    return record.get("sha256") not in (None, sha256_of(settings.source))


def _upload(setup, force: frozenset) -> Check:
    settings = setup.settings
    try:
        differs = upload_differs(settings, state_file.peek(setup.state_path))
    except (OSError, state_file.StateError):
        return Check("upload", SKIP, "not checked: the source or the state file cannot be read")
    if not differs:
        return Check("upload", OK, f"no other file recorded as uploaded to {settings.upload_path}")
    if "upload" in force:
        return Check("upload", NOTE, f"{settings.source} differs from the file uploaded to {settings.upload_path}; "
                                     "--force upload overwrites it")  # fmt: skip
    return Check("upload", FAIL, f"{settings.source} differs from the file uploaded to {settings.upload_path}",
                 "run with --force upload (azwrap all) or --force (azwrap upload) to overwrite it")  # fmt: skip


def _state(path: Path) -> Check:
    problem = state_file.problem(path)
    if problem:
        return Check("state", FAIL, problem, "fix or move the state file")
    if not path.exists():
        return Check("state", OK, f"{path}: none yet")
    # Windows does not use POSIX modes: saying "private" there would not be true.
    return Check("state", OK, f"{path} readable and private (mode 600)" if state_file.posix()
                 else f"{path} readable (Windows: file modes are not checked)")


def _secret_store(setup) -> Check:
    recorded = state_file.peek(setup.state_path)
    sp = recorded["outputs"].get("sp")
    try:
        secrets.check_usable(setup.secret_store)
    except secrets.SecretStoreError as error:
        return Check("store", FAIL, str(error), "use --secret-store file, or make the OS credential store usable")
    if sp:
        store = secrets.KEYRING if secrets.in_keyring(recorded) else "file"
        return Check("store", OK, f"the client secret is in {secrets.where(store, setup.state_path, sp.get('appId'))}")
    return Check("store", OK, f"a new client secret will be kept in {secrets.where(setup.secret_store, setup.state_path)}")


def _state_writable(path: Path) -> Check:
    problem = state_file.writable_problem(path)
    if problem:
        return Check("writable", FAIL, f"the state cannot be written: {problem}",
                     "make the state directory yours and writable, or name another with --state-file")
    return Check("writable", OK, f"the state can be written at {path}")


def failed(checks: list[Check]) -> list[Check]:
    return [check for check in checks if check.status == FAIL]


def as_dicts(checks: list[Check]) -> list[dict]:
    return [asdict(check) for check in checks]


def lines(checks: list[Check]) -> list[str]:
    out = []
    for check in checks:
        line = f"{check.status:<4} {check.check:<9} {check.detail}"
        if check.fix and check.status != OK:
            line += f"\n     {'':<9} fix: {check.fix}"
        out.append(line)
    return out
