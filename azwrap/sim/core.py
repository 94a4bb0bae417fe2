"""What every command group of the simulator shares: identities, errors, the state file and its lock,
the command table (`F`, `command`) and lookups of the resources several groups touch.

CUR_SUB is set by cli.run for each call: other modules read it as `core.CUR_SUB`, never import it by name.
"""
import datetime
try:
    import fcntl
except ImportError:  # Windows: `azwrap demo` there locks with msvcrt
    fcntl = None
import json
import os
import re
import signal
import sys
import time

SUB = "00000000-0000-0000-0000-00000000c0de"
SUB_NAME = "Azure Sim Subscription"
# A second subscription the simulated user can switch to (`az account set`); it starts empty.
SUBSCRIPTIONS = {SUB: SUB_NAME, "11111111-2222-3333-4444-555555555555": "Azure Sim Other Subscription"}
CUR_SUB = SUB  # the subscription this call acts in: --subscription, else the signed-in one
TENANT = "00000000-0000-0000-0000-000000007e1a"
USER = {"name": "sim-user@example.com", "type": "user"}
CLI_VERSION = "2.91.0"
KNOWN_EXTENSIONS = {"azure-cli-ml": "1.41.0", "ml": "2.30.0"}
ML_DIALECT = {"azure-cli-ml": "v1", "ml": "v2"}
OUTPUT_FORMATS = ["json", "jsonc", "none", "table", "tsv", "yaml", "yamlc"]


# --------------------------------------------------------------------------- errors / signals
class AzError(Exception):
    """An error az would report: message to stderr as 'ERROR: ...', with an exit code."""

    def __init__(self, msg, code=1, extra=()):
        super().__init__(msg)
        self.msg, self.code, self.extra = msg, code, list(extra)


def arm_error(code, message, exit_code=1):
    """ARM errors print as '(Code) Message\\nCode: ...\\nMessage: ...' in az 2.9x."""
    return AzError("({}) {}\nCode: {}\nMessage: {}".format(code, message, code, message), exit_code)


_critical = False      # True while state is being written: defer signals until it is done
_pending_signal = None


def on_signal(signum, _frame):
    global _pending_signal
    code = 130 if signum == signal.SIGINT else 143
    if _critical:
        _pending_signal = code
    else:
        os._exit(code)  # nothing written yet: the lock (if any) is released by the kernel


# --------------------------------------------------------------------------- state
def home_dir():
    return os.path.abspath(os.environ.get("AZSIM_HOME") or ".az-sim")


def fresh_state():
    return {"logged_in": False, "config": {"core.output": "json"}, "extensions": {},
            "groups": {}, "workspaces": {}, "computes": {}, "storage_accounts": {},
            "filesystems": {}, "files": {}, "service_principals": {}, "role_assignments": [],
            "datastores": {}, "deleted_workspaces": {}, "calls": [], "timeline": [], "counters": {},
            "subscription": SUB, "resources": {}, "pending": []}


class StateLock:
    """Exclusive flock on $AZSIM_HOME/lock held across a whole read-modify-write."""

    def __enter__(self):
        d = home_dir()
        os.makedirs(d, mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)
        self.fd = os.open(os.path.join(d, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        else:
            import msvcrt
            while True:  # LK_LOCK gives up after 10 s; another simulated call holds it
                try:
                    msvcrt.locking(self.fd, msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    continue
        return self

    def __exit__(self, *exc):
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        else:
            import msvcrt
            os.lseek(self.fd, 0, os.SEEK_SET)
            msvcrt.locking(self.fd, msvcrt.LK_UNLCK, 1)
        os.close(self.fd)


def load_state():
    path = os.path.join(home_dir(), "state.json")
    try:
        with open(path, encoding="utf-8") as f:
            st = json.load(f)
    except FileNotFoundError:
        return fresh_state()
    base = fresh_state()
    base.update(st)
    return base


timeline_entry = None  # this call's entry in state["timeline"]: its end is set when its state is saved


def save_state(st):
    global _critical
    if timeline_entry is not None:
        timeline_entry["end"] = time.time()
    d = home_dir()
    tmp = os.path.join(d, "state.json.tmp.{}".format(os.getpid()))
    _critical = True
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(st, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(d, "state.json"))
    finally:
        _critical = False
    if _pending_signal is not None:
        os._exit(_pending_signal)


# --------------------------------------------------------------------------- command table
class F:
    """A flag: names (first is canonical), kind str|int|bool|tri|multi, enum choices."""

    def __init__(self, names, req=False, kind="str", choices=None, default=None):
        self.names = names.split()
        self.dest = self.names[0].lstrip("-").replace("-", "_")
        self.req, self.kind, self.choices, self.default = req, kind, choices, default
        if kind == "tri":
            self.choices = ["false", "true"]

    @property
    def label(self):
        return "/".join(self.names)


GLOBAL_FLAGS = [F("--output -o", choices=OUTPUT_FORMATS), F("--query"), F("--only-show-errors", kind="bool"),
                F("--verbose", kind="bool"), F("--debug", kind="bool")]
RG, WS = F("--resource-group -g", req=True), F("--workspace-name -w", req=True)

COMMANDS = {}  # (dialect or None, "path words") -> (flags, handler, options)


# Commands that do not take the global --subscription (REFERENCE.md section 7): az ad, login,
# version, extension, config; account show/set take their own --subscription.
NO_SUBSCRIPTION = ("ad ", "login", "logout", "version", "extension ", "config ")


def command(path, flags, dialect=None, positional=None, no_login=False, no_subscription=False):
    def deco(fn):
        takes_subscription = not (no_subscription or path.startswith(NO_SUBSCRIPTION))
        COMMANDS[(dialect, path)] = {"flags": flags + ([F("--subscription")] if takes_subscription else []),
                                     "handler": fn, "positional": positional,
                                     "no_login": no_login, "path": path}
        return fn
    return deco


# --------------------------------------------------------------------------- helpers
def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def arm_time(suffix="Z"):
    """A time as ARM sends it raw (7 fractional digits, `Z` or `+00:00`): what `az resource show` passes
    through unchanged in `properties`. Its 7th digit is random, as ARM's are."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + "{:06d}{}".format(now.microsecond, os.urandom(1)[0] % 10) + suffix


def sdk_time(raw):
    """The same time as az prints it after its SDK parsed it: datetime.isoformat() (6 digits, `+00:00`;
    no fraction at all when the microseconds are 0)."""
    if not raw:
        return raw
    head, _, frac = raw.rstrip("Z").split("+")[0].partition(".")
    when = datetime.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(
        microsecond=int((frac + "000000")[:6]), tzinfo=datetime.timezone.utc)
    return when.isoformat()


def norm_location(loc):
    return loc.replace(" ", "").lower()


def group_id(rg):
    return "/subscriptions/{}/resourceGroups/{}".format(CUR_SUB, rg)


def store_group(st, g):
    """A new group in the current subscription: keyed by name (by name@subscription outside the first one,
    so that both subscriptions can hold a group of the same name)."""
    g["subscription"] = CUR_SUB
    st["groups"][g["name"] if CUR_SUB == SUB else "{}@{}".format(g["name"], CUR_SUB)] = g
    return g


def parse_id(resource_id):
    """(subscription, group or None, provider path or None) of an ARM id; None when it is no ARM id."""
    m = re.match(r"^/subscriptions/([^/]+)(?:/resourceGroups/([^/]+)(?:/providers/(.+?))?)?/?$", resource_id or "", re.I)
    return (m.group(1).lower(), m.group(2), m.group(3)) if m else None


def group_in(st, sub, name):
    """Group `name` of subscription `sub` (a lookup by id: the id's own subscription, whatever the default)."""
    for g in st["groups"].values():
        if g["name"].lower() == (name or "").lower() and g.get("subscription", SUB).lower() == sub.lower():
            return g
    return None


def group_key(st, name):
    """The key of group `name` in the current subscription (groups of other subscriptions are invisible)."""
    for key, g in st["groups"].items():
        if g["name"].lower() == name.lower() and g.get("subscription", SUB) == CUR_SUB:
            return key
    return None


def find_group(st, name):
    key = group_key(st, name)
    return None if key is None else st["groups"][key]


def require_group(st, name):
    g = find_group(st, name)
    if g is None:
        raise arm_error("ResourceGroupNotFound", "Resource group '{}' could not be found.".format(name))
    return g


def group_missing(name):
    return arm_error("ResourceGroupNotFound", "Resource group '{}' could not be found.".format(name), 3)


def ws_key(rg, ws):
    """A workspace's key (its computes' and datastores' keys start with it): unique per subscription."""
    return "{}/{}".format(rg, ws) + ("" if CUR_SUB == SUB else "@" + CUR_SUB)


def in_current_subscription(resource_id):
    return resource_id.lower().startswith("/subscriptions/{}/".format(CUR_SUB))


def find_ws(st, rg, name, coll="workspaces"):
    for key, w in st[coll].items():
        if (w["resource_group"].lower() == rg.lower() and w["name"].lower() == name.lower()
                and in_current_subscription(w["id"])):
            return key, w
    return None, None


SOFT_DELETED = ("(BadRequest) Soft-deleted workspace exists. Please purge or recover it. "
                "https://aka.ms/wsoftdelete\nCode: BadRequest\nMessage: Soft-deleted workspace exists. "
                "Please purge or recover it. https://aka.ms/wsoftdelete")


def refuse_soft_deleted(st, rg, name):
    """Creating a workspace whose name a soft-deleted one holds fails until it is purged; a purge
    answered already may still hold the name for AZSIM_PURGE_LAG more create attempts (default 1)."""
    key, w = find_ws(st, rg, name, "deleted_workspaces")
    if w is None:
        return
    if w.get("purging"):
        # Counted in counters, which a failing call keeps (it rolls back everything else).
        lag_key = "purge_lag:" + key.lower()
        if st["counters"].get(lag_key, 0) <= 0:
            del st["deleted_workspaces"][key]
            return
        st["counters"][lag_key] -= 1
    raise AzError(SOFT_DELETED)


def drop_assignments_at(st, scope):
    """Role assignments are extension resources: they go with the resource they are scoped to."""
    prefix = scope.lower()
    st["role_assignments"] = [r for r in st["role_assignments"]
                              if not (r["scope"].lower() == prefix or r["scope"].lower().startswith(prefix + "/"))]


def soft_delete_workspace(st, key):
    w = st["workspaces"].pop(key)
    drop_assignments_at(st, w["id"])
    for coll in ("computes", "datastores"):
        for k in [k for k in st[coll] if k.lower().startswith(key.lower() + "/")]:
            del st[coll][k]
    st["deleted_workspaces"][key] = dict(w, deleted_at=now_iso())


def purge_workspace(st, key):
    """forceToPurge: the workspace is gone, but its name may stay blocked a little longer."""
    if key in st["workspaces"]:
        soft_delete_workspace(st, key)
    st["deleted_workspaces"][key]["purging"] = True
    st["counters"]["purge_lag:" + key.lower()] = int(os.environ.get("AZSIM_PURGE_LAG", "1") or 0)


def workspace_missing(rg, name, code):
    return arm_error("ResourceNotFound", "The Resource 'Microsoft.MachineLearningServices/workspaces/{}' "
                     "under resource group '{}' was not found. For more details please go to "
                     "https://aka.ms/ARMResourceNotFoundFix".format(name, rg), code)


def require_ws(st, rg, name, code=1):
    require_group(st, rg)
    key, w = find_ws(st, rg, name)
    if w is None:
        raise workspace_missing(rg, name, code)
    return key, w


def require_account(st, name, code=1):
    acct = st["storage_accounts"].get(name)
    if acct is None:
        raise AzError("Storage account '{}' not found.".format(name), code)
    return acct


def find_sp(st, ident):
    """A service principal by appId or its own object id (an app made by `ad app create` has none)."""
    if not ident:
        return None
    for sp in st["service_principals"].values():
        if sp.get("sp", True) and ident.lower() in (sp["appId"].lower(), sp["id"].lower()):
            return sp
    return None


def app_object_id(app):
    """The application's object id (not its service principal's: another directory object)."""
    return app.get("appObjectId") or flip_guid(app["id"])


def find_app(st, ident):
    """An application by appId or application object id, as `az ad app ...` finds it."""
    if not ident:
        return None
    for app in st["service_principals"].values():
        if ident.lower() in (app["appId"].lower(), app_object_id(app).lower()):
            return app
    return None


def confirm(a):
    """az's prompt for commands with --yes; there is no tty in a test (knack's NoTTYException)."""
    if a["yes"]:
        return True
    if not sys.stdin.isatty():
        raise AzError("Unable to prompt for confirmation as no tty available. Use --yes.")
    sys.stderr.write("Are you sure you want to perform this operation? (y/n): ")
    return sys.stdin.readline().strip().lower() in ("y", "yes")


# uuid, secrets and difflib cost more to import than a simulated call takes: one process per call,
# hundreds per test run. Random GUIDs and choices from os.urandom are plenty for a simulator.
def new_guid():
    h = bytearray(os.urandom(16))
    h[6] = (h[6] & 0x0F) | 0x40  # version 4
    h[8] = (h[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = h.hex()
    return "{}-{}-{}-{}-{}".format(x[:8], x[8:12], x[12:16], x[16:20], x[20:])


def flip_guid(guid):
    """Another GUID derived from guid (its last bit flipped), stable across calls."""
    x = guid.replace("-", "")
    x = "{:032x}".format(int(x, 16) ^ 1)
    return "{}-{}-{}-{}-{}".format(x[:8], x[8:12], x[12:16], x[16:20], x[20:])


def pick(alphabet):
    return alphabet[int.from_bytes(os.urandom(2), "big") % len(alphabet)]


def close_matches(word, choices, n, cutoff):
    import difflib  # only on the error path

    return difflib.get_close_matches(word, choices, n=n, cutoff=cutoff)


def warn(ctx, text):
    if not ctx["only_show_errors"]:
        sys.stderr.write("WARNING: {}\n".format(text))


def ensure_list(v):
    return v if isinstance(v, list) else ([] if v is None else [v])


def parse_tags(values):
    tags = {}
    for item in ensure_list(values):
        k, _, v = item.partition("=")
        tags[k] = v
    return tags or None
