"""The simulator's program: its meta flags (--help, --summary, --reset) and one az call from start
to end: latency, the lock, fault knobs, the handler, the state saved, the output."""
import copy
import json
import os
import signal
import sys
import time

from . import core
from .core import AzError, OUTPUT_FORMATS, StateLock, fresh_state, home_dir, load_state, on_signal, save_state
# Importing a command group's module registers its commands in core.COMMANDS.
from . import account, extension, group, storage, ad, role, ml_v1, ml_v2, resource  # noqa: F401
from . import principal
from . import background
from .account import (EXPIRED_SIGN_IN, EXPIRED_SIGN_IN_EXTRA, NO_TOKEN, find_subscription, sign_in_expired,
                      token_lock_error)
from .parse import expand_file_args, parse_args, resolve_command, usage_of
from .output import apply_query, print_error, render


HELP = """az-sim - offline simulator of the Azure CLI 2.91 (stdlib only, no network, never ~/.azure)

Usage:  az-sim <az arguments...>      behave like `az <az arguments...>`
        az-sim --help | --summary | --reset     (meta, not az; not recorded in `calls`)

State:  $AZSIM_HOME/state.json (default ./.az-sim/), dir 0700, file 0600, atomic writes,
        exclusive flock on $AZSIM_HOME/lock around each command. Fresh state: logged out,
        no extensions. Every az invocation's raw argv (before @file expansion) is appended to
        state["calls"], including failing ones; state["timeline"] has each call's argv, start
        (when the process began, before its latency) and end (when its state was saved), epoch seconds.

Exit codes: 0 ok, 1 error, 2 parse error (unknown flag, missing required flag, bad enum value,
        unknown command; also `storage account show` of a missing account without
        --resource-group), 3 not found (show commands, ARM 404s; not Graph: see below).

Output: JSON (indent 2, sorted keys). Format = --output/-o flag, else env AZURE_CORE_OUTPUT,
        else `az config set core.output=...` (default json). Formats: json jsonc table tsv yaml
        yamlc none. --query supports a small JMESPath subset: a.b, a[0], a[].b, [a, b].
Global flags: --output/-o --query --only-show-errors (hides WARNINGs; so do env AZURE_CORE_ONLY_SHOW_ERRORS
        and `az config set core.only_show_errors=true`, the env first) --verbose --debug (ignored)
        --subscription (must be the sim subscription id or name).
@file:  like azure-cli-core, `@path`, `--x=@path`, `key=@path` are replaced by the file's
        content with trailing newlines stripped; an unreadable path is left as is (as az does).

Extensions: azure-cli-ml 1.41.0 (ml "v1" commands) or ml 2.30.0 (ml "v2"), not both.
        AZURE_EXTENSION_USE_DYNAMIC_INSTALL (or config extension.use_dynamic_install):
        no -> "'ml' is misspelled or not recognized by the system." exit 2;
        yes_prompt (default, no tty here) -> exit 2 asking to install;
        yes_without_prompt -> installs `ml` and runs the command.

Commands: login logout | account show/set/list | version | config set K=V
        extension add/show/list/remove | group create/show/exists/delete/list | tag update
        storage account create/show/check-name/delete | storage fs create/exists/show/delete/list
        storage fs file upload/exists/delete/download/list | ad sp create-for-rbac/show/delete
        resource show/list/delete | rest --method get|delete (workspaces, forceToPurge) | acr create
        ad app create/show/delete | ad app credential reset (--append, --display-name,
        --years | --end-date)/list/delete (--key-id)
        role assignment create/list (--all, --assignee-object-id)/delete
        account get-access-token/list-locations | extension list-available
        (group create refuses a location that `account list-locations` does not list)
        v1: ml workspace create/show/delete, ml computetarget create amlcompute, ml computetarget
            show/delete, ml datastore attach-adls-gen2/show/detach/list (missing: exit 1, v1's SDK)
        v2: ml workspace create/show/update (--container-registry)/delete, ml compute create/show/delete, ml datastore
            create/show/delete/list
        `az-sim <command> --help` lists a command's flags.

Fault knobs (environment variables):
  AZSIM_HOME             state directory (default ./.az-sim)
  AZSIM_PURGE_LAG=K      a purged workspace still holds its name for K more create attempts (default 1)
  AZSIM_DELETE_POLLS=K   `group delete --no-wait`: the group is gone after K more looks (default 2)
  AZSIM_TAKEN_ACCOUNTS   comma-separated storage account names taken by someone else
  AZSIM_FAIL_MATCH       text; the Nth call whose space-joined raw argv contains it fails,
                         changing nothing (matches are counted in state counters, across processes)
  AZSIM_FAIL_NTH         N (default 1)
  AZSIM_FAIL_EXIT        exit code of the injected failure (default 1)
  AZSIM_FAIL_STDERR      stderr text of the injected failure (default "ERROR: injected failure")
  AZSIM_GRAPH_DELAY=K    directory replication: the first K `role assignment create` attempts for
                         each (principal, scope) fail (exit 1), alternately with Graph's "Cannot find
                         user or service principal in graph database" and ARM's "(PrincipalNotFound)
                         Principal ... does not exist in the directory ..."
  AZSIM_GRAPH_APP_DELAY=K  a new app replicates: the first K `ad app credential list` of each app fail
                         (exit 1) with Graph's "Resource '<id>' does not exist or one of its queried
                         reference-property objects are not present."
  AZSIM_TRACE            file; each call appends a JSON line {"pid", "argv", "sleep"} as it starts,
                         before its latency sleep (lets a test see that a call is under way)
  AZSIM_GARBAGE_MATCH    text; a call whose raw argv contains it performs its action but prints
                         non-JSON garbage on stdout (exit 0)
  AZSIM_LATENCY          seconds (float) to sleep for every command
  AZSIM_LATENCY_PROFILE  JSON object {"ml workspace create": 5, ...}; longest matching command
                         prefix wins and replaces AZSIM_LATENCY
  AZSIM_CLOCK_SCALE      multiplier for all sleeps (default 1)
  AZSIM_RESET_FAIL_AFTER_REMOVE  `ad app credential reset` (without --append) removes the old
                         passwords, then fails (exit 1) before adding the new one: it is not atomic
  AZSIM_TOKEN_EXPIRED=1  the cached sign-in has expired: `account show` still succeeds (it reads the
                         cache), every command that needs a token fails with AADSTS700082 (exit 1),
                         until an `az login` made while it is set
  AZSIM_TOKEN_LOCK       windows|portalocker|msal: a call that needs a token fails (exit 1) on the MSAL token
                         cache's lock with that platform's text, after reading its @file arguments; the
                         first AZSIM_TOKEN_LOCK_COUNT (default 1) such calls whose argv holds
                         AZSIM_TOKEN_LOCK_MATCH (default: any) do
  AZSIM_TOKEN_EXPIRY     the expiry fields `account get-access-token` prints (default "expiresOn,expires_on";
                         "expires_on": an az without the deprecated expiresOn, "expiresOn": an older az)
  AZSIM_USER_ROLES       comma-separated roles the signed-in user holds on the subscription (default
                         Owner; empty: none); `role assignment create` without Owner, User Access
                         Administrator or Role Based Access Control Administrator fails AuthorizationFailed
  AZSIM_RETIRED_EXTENSIONS  comma-separated extensions the index no longer offers: absent from
                         `extension list-available`, and `extension add` finds no match
  AZSIM_RBAC_DELAY=K     role assignments propagate: each applies only after K more calls (default 4)
  AZURE_CONFIG_DIR       (az's own) a call with it acts as whoever `az login` signed in there, a user or
                         a service principal (`--service-principal -u APPID -p SECRET --tenant T`,
                         `--allow-no-subscriptions`); unset: the default sign-in, kept in state.json.
                         az creates the directory when missing and writes azureProfile.json there (and a
                         principal's secret in service_principal_entries.json); without azureProfile.json
                         the directory is signed out. Its extensions are those of AZURE_EXTENSION_DIR, else
                         of <dir>/cliextensions (none: the default sign-in's are in $AZSIM_HOME/cliextensions).
  A service principal is judged by its applied role assignments: `storage fs ... --auth-mode login`
  needs a Storage Blob Data role on a scope holding the account (else az 2.91's "You do not have the
  required permissions..." and the service's AuthorizationPermissionMismatch text, in turn; exit 1),
  without --auth-mode login the account key (Owner or Contributor); ml workspace/datastore/compute reads
  a role on the workspace (else AuthorizationFailed); az ad and everything else are refused. Its login
  fails for an unknown app (AADSTS700016), a secret it does not hold (AADSTS7000215) or an expired one
  (AADSTS7000222), and without --allow-no-subscriptions when no applied role gives it a subscription.
  AZSIM_SMART_DETECTION_AFTER=K  Azure's smart detection action group and alert rule appear in a new
                         workspace's group from the Kth call after its create (default 3; 0: at once)
  AZSIM_SWITCH_SUBSCRIPTION_AFTER=N  another terminal's `az account set`: after N calls made while it is
                         set, az's default subscription changes (once) to AZSIM_SWITCH_SUBSCRIPTION_TO
                         (id or name; default the other sim subscription); calls without --subscription
                         act there from then on
  AZSIM_OTHER_TENANT=T   another terminal's `az login --tenant T`: `account show` reports tenantId T, and
                         `az ad ...` sees T's directory (none of the setup's apps: "does not exist", exit 1)
  AZSIM_SHARED_LOG_ANALYTICS=1  a workspace's insights send to the subscription's shared
                         DefaultResourceGroup-<LOC>/DefaultWorkspace-<sub>-<LOC> (made once, reused)
  az-sim --image-build RG WS  (sim only) Azure ML's first image build: a container registry is made in the
                         workspace's group and linked to it; prints its id
  AZSIM_RBAC_COLLISION=1|old  `ad sp create-for-rbac` without --name runs in the same UTC second as the
                         newest azure-cli-* app (one made by someone else just before, if none): it warns
                         "Found an existing application instance: (id) <app object id>. We will patch it."
                         ("old": 'of "<appId>". We will patch it') and removes that app's passwords.
                         Unset, it never collides by chance. Two apps of the name (`ad app create`): exit 1
Identity: a re-created resource never shares these with the one before: a workspace's workspaceId
        (`resource show` properties.workspaceId; v1 `workspaceid`; v2 prints none), a storage
        account's creationTime (`resource show`: 7 digits + Z; `storage account show`: +00:00, 6
        digits), a compute's properties.createdOn (v2 `created_on`), an app's appId and object ids,
        a role assignment's id. Ids compare case-insensitively (v1 prints its dependents' in lower case).
Lookups by id (resource show/delete, tag update, rest) use the id's own subscription.
        `resource show --ids A B`: a list in order; any missing: exit 3, nothing on stdout.
        `resource delete --ids`: a missing resource in an existing group is a success (ARM's 204); a
        missing group fails "Some resources failed to be deleted" (exit 1), the others stay deleted.
A workspace (v1, v2) makes in its group a storage account, a key vault, application insights
        (v2: and a log analytics workspace, named only in insights' properties.WorkspaceResourceId);
        later Azure adds "Application Insights Smart Detection" (action group) and
        "Failure Anomalies - <insights>" (alert rule). v2 `ml workspace delete --all-resources` and v1
        `--delete-dependent-resources` delete what the workspace links to; the ARM purge only the workspace.
Graph: `ad app delete|credential list|reset|delete` of a missing app exit 1 ("Resource '<id>' does not
        exist ..."); only `ad sp show`/`ad app show` exit 3. `credential delete` of an unknown key id:
        exit 1 (the harsher case; the wording is the sim's). create-for-rbac names the app
        azure-cli-<UTC second>, and patches (removing its passwords) an app of the name it uses.
Principals keep password credentials (endDateTime: 1 year, or --years/--end-date); a datastore
attach or create with a secret its principal does not accept now fails (AADSTS7000215).
  Sleeps happen before the lock is taken and before anything changes; SIGTERM/SIGINT exit
  promptly (143/130) without writing state.
"""


def summary(st):
    out = ["az-sim state in {}".format(home_dir()),
           "logged in: {}".format("yes" if st["logged_in"] else "no"),
           "extensions: {}".format(", ".join("{} {}".format(n, e["version"]) for n, e in
                                              sorted(st["extensions"].items())) or "none"),
           "output default: {}".format(st["config"].get("core.output", "json"))]
    out.append("resource groups ({}):".format(len(st["groups"])))
    out += ["  {} ({})".format(g["name"], g["location"]) for g in st["groups"].values()]
    out.append("workspaces ({}):".format(len(st["workspaces"])))
    out += ["  {} in {} ({}, {} api)".format(w["name"], w["resource_group"], w["location"], w.get("api"))
            for w in st["workspaces"].values()]
    out.append("computes ({}):".format(len(st["computes"])))
    out += ["  {} in {}/{}: {} {}, nodes {}..{}".format(c["name"], c["resource_group"], c["workspace"], c["type"],
                                                        c["vm_size"], c["min_nodes"], c["max_nodes"])
            for c in st["computes"].values()]
    out.append("storage accounts ({}):".format(len(st["storage_accounts"])))
    out += ["  {} in {} ({}, hierarchical namespace {})".format(s["name"], s["resource_group"], s["location"],
                                                                "on" if s["hns"] else "off")
            for s in st["storage_accounts"].values()]
    out.append("filesystems ({}):".format(len(st["filesystems"])))
    out += ["  {}".format(k) for k in st["filesystems"]]
    out.append("files ({}):".format(len(st["files"])))
    out += ["  {} ({} bytes)".format(k, f["size"]) for k, f in st["files"].items()]
    out.append("service principals: {}".format(len(st["service_principals"])))
    out += ["  {} appId {}".format(s["displayName"], s["appId"]) for s in st["service_principals"].values()]
    out.append("role assignments ({}):".format(len(st["role_assignments"])))
    out += ["  {} -> appId {} on {}".format(r["roleDefinitionName"], r["appId"], r["scope"])
            for r in st["role_assignments"]]
    out.append("datastores ({}):".format(len(st["datastores"])))
    out += ["  {} ({} api): {}/{} as client {} (secret hidden)".format(
        k, d["api"], d["account_name"], d["filesystem"], d["client_id"]) for k, d in st["datastores"].items()]
    out.append("other resources ({}):".format(len(st["resources"])))
    out += ["  {} ({}) in {}".format(r["name"], r["type"], r["resource_group"]) for r in st["resources"].values()]
    out.append("calls recorded: {}".format(len(st["calls"])))
    return "\n".join(out) + "\n"


def command_words(argv):
    words = []
    for tok in argv:
        if tok.startswith("-"):
            break
        words.append(tok)
    return words


def latency_for(argv):
    scale = float(os.environ.get("AZSIM_CLOCK_SCALE") or 1)
    delay = float(os.environ.get("AZSIM_LATENCY") or 0)
    profile = os.environ.get("AZSIM_LATENCY_PROFILE")
    if profile:
        words = command_words(argv)
        best = -1
        for prefix, secs in json.loads(profile).items():
            p = prefix.split()
            if words[:len(p)] == p and len(p) > best:
                best, delay = len(p), float(secs)
    return delay * scale


def trace(raw_argv, delay):
    path = os.environ.get("AZSIM_TRACE")
    if path:
        with open(path, "a", encoding="utf-8") as f:  # one short write: lines of concurrent calls stay whole
            f.write(json.dumps({"pid": os.getpid(), "argv": raw_argv, "sleep": delay}) + "\n")


def check_sign_in(st, sess, spec, raw_argv):
    """A command other than login & co needs a sign-in (of its AZURE_CONFIG_DIR's session), most of them a
    token: expired, or its cache locked."""
    if spec["no_login"]:
        return
    if not sess["logged_in"]:
        raise AzError("Please run 'az login' to setup account.")
    if spec["path"] not in NO_TOKEN and sign_in_expired(sess):
        raise AzError(EXPIRED_SIGN_IN, 1, EXPIRED_SIGN_IN_EXTRA)
    locked = None if spec["path"] in NO_TOKEN else token_lock_error(st, raw_argv)
    if locked:
        raise locked


BOOLEAN_STATES = {"1": True, "yes": True, "true": True, "on": True, "0": False, "no": False, "false": False, "off": False}


def only_show_errors(sess):
    """knack's core.only_show_errors: the environment's AZURE_CORE_ONLY_SHOW_ERRORS before the config file's
    (`az config set core.only_show_errors=true`); --only-show-errors on the command line wins over both."""
    value = os.environ.get("AZURE_CORE_ONLY_SHOW_ERRORS")
    if value is None:
        value = sess.get("config", {}).get("core.only_show_errors", "false")
    if str(value).lower() not in BOOLEAN_STATES:
        raise AzError("Not a boolean: {}".format(value))  # knack's ValueError: az does not start
    return BOOLEAN_STATES[str(value).lower()]


def other_tenant(st, spec, handler):
    """AZSIM_OTHER_TENANT=T: another terminal's `az login --tenant T`: `az ad ...` (Microsoft Graph, which takes
    no --subscription) looks in T's directory, where none of this tenant's apps and principals are."""
    if not os.environ.get("AZSIM_OTHER_TENANT") or not spec["path"].startswith("ad "):
        return handler()
    mine, st["service_principals"] = st["service_principals"], st.setdefault("other_tenant_principals", {})
    try:
        return handler()
    finally:
        st["other_tenant_principals"], st["service_principals"] = st["service_principals"], mine


def run(raw_argv):
    started = time.time()
    ctx = {"only_show_errors": "--only-show-errors" in raw_argv}
    delay = max(0.0, latency_for(raw_argv))
    trace(raw_argv, delay)
    time.sleep(delay)  # before the lock: a kill here changes nothing
    with StateLock():
        st = load_state()
        st["calls"].append(list(raw_argv))
        # When each call started (before its latency) and ended (its state saved), for tests of overlap and order.
        core.timeline_entry = {"argv": list(raw_argv), "start": started, "end": None, "pid": os.getpid()}
        st["timeline"].append(core.timeline_entry)
        background.tick(st)  # another terminal, and Azure's own additions, since the last call
        try:
            match = os.environ.get("AZSIM_FAIL_MATCH")
            if match and match in " ".join(raw_argv):
                key = "fail_match:" + match
                st["counters"][key] = st["counters"].get(key, 0) + 1
                if st["counters"][key] == int(os.environ.get("AZSIM_FAIL_NTH") or 1):
                    save_state(st)
                    sys.stderr.write(os.environ.get("AZSIM_FAIL_STDERR", "ERROR: injected failure") + "\n")
                    return int(os.environ.get("AZSIM_FAIL_EXIT") or 1)
            argv = expand_file_args(raw_argv)
            snapshot = copy.deepcopy(st)
            words = command_words(argv)
            sess = principal.session(st)  # the sign-in of AZURE_CONFIG_DIR (or the default one)
            spec, rest = resolve_command(st, words, ctx)
            if "group_help" in spec:
                save_state(st)
                sys.stdout.write("Group\n    az {}\n\nSubgroups/Commands:\n{}\n".format(
                    " ".join(words), "\n".join("    " + s for s in spec["group_help"])))
                return 0
            args = rest + argv[len(words):]
            if "--help" in args or "-h" in args:
                save_state(st)
                sys.stdout.write("usage: az {} {}\n".format(spec["path"], usage_of(spec)))
                return 0
            a = parse_args(spec, args)
            fmt = (a["output"] or os.environ.get("AZURE_CORE_OUTPUT") or sess.get("config", {}).get("core.output")
                   or "json").lower()
            if fmt not in OUTPUT_FORMATS:
                fmt = "json"
            ctx["only_show_errors"] = bool(a["only_show_errors"]) or only_show_errors(sess)
            check_sign_in(st, sess, spec, raw_argv)
            core.CUR_SUB = (find_subscription(a["subscription"], sess) if a.get("subscription")
                            else sess["subscription"])
            principal.authorize(st, sess, spec["path"], a)
            result = other_tenant(st, spec, lambda: spec["handler"](st, a, ctx))
            if a["query"]:
                result = apply_query(result, a["query"])
        except AzError as err:
            if "snapshot" in locals() and not getattr(err, "keep_changes", False):
                # keep the record of the call and counters, undo everything else
                counters, calls, timeline = st["counters"], st["calls"], st["timeline"]
                st = snapshot
                st["counters"], st["calls"], st["timeline"] = counters, calls, timeline
            save_state(st)
            print_error(err)
            return err.code
        save_state(st)
    garbage = os.environ.get("AZSIM_GARBAGE_MATCH")
    if garbage and garbage in " ".join(raw_argv):
        sys.stdout.write("\x1b[33m- Running ..\x1b[0m\n{not json at all <<<\n")
        return 0
    sys.stdout.write(render(result, fmt))
    return 0


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    argv = sys.argv[1:]
    if argv in (["--help"], ["-h"], []):
        sys.stdout.write(HELP)
        return 0
    if argv == ["--summary"]:
        with StateLock():
            sys.stdout.write(summary(load_state()))
        return 0
    if argv[:1] == ["--image-build"] and len(argv) == 3:  # sim only: Azure ML's first image build (dependents.py)
        from .dependents import image_build

        with StateLock():
            st = load_state()
            registry = image_build(st, argv[1], argv[2])
            save_state(st)
        sys.stdout.write(registry + "\n")
        return 0
    if argv == ["--reset"]:
        with StateLock():
            save_state(fresh_state())
        sys.stdout.write("az-sim state reset in {}\n".format(home_dir()))
        return 0
    try:
        return run(argv)
    except BrokenPipeError:
        return 1
