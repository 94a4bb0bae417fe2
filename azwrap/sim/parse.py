"""From argv to a command and its values, as azure-cli and argparse do: @file expansion, command
lookup (and the ml extension's dynamic install), flags and their errors."""
import os
import re
import sys

from .core import AzError, COMMANDS, GLOBAL_FLAGS, KNOWN_EXTENSIONS, ML_DIALECT, close_matches, warn
from .principal import extensions, session


EXTENSION_REFERENCE = ("If the command is from an extension, please make sure the corresponding "
                       "extension is installed. To learn more about extensions, please visit "
                       "'https://docs.microsoft.com/cli/azure/azure-cli-extensions-overview'")


def expand_file_args(argv):
    """Mirror azure-cli-core _expand_file_prefixed_files: '@path', 'x=@path' -> file content.

    Content has trailing os.linesep stripped (content.rstrip(os.linesep)); an unreadable file
    (IOError) leaves the argument unchanged ("assume not a file"); undecodable bytes -> base64.
    """
    def load(path):
        if path == "-":
            return sys.stdin.read().rstrip(os.linesep)
        path = os.path.expanduser(path)
        with open(path, "rb") as f:
            raw = f.read()
        for enc in ("utf-8-sig", "utf-8", "utf-16", "utf-16le", "utf-16be"):
            try:
                return raw.decode(enc).rstrip(os.linesep)
            except UnicodeError:
                pass
        import base64
        return base64.b64encode(raw).decode()

    def maybe(arg):
        if arg.startswith("@") and len(arg) > 1:
            try:
                return load(arg[1:])
            except OSError:
                return arg
        return arg

    out = []
    for arg in argv:
        parts = arg.split("=", 1)
        out.append(parts[0] + "=" + maybe(parts[1]) if len(parts) == 2 else maybe(arg))
    return out


def available_commands(st):
    dialects = {None} | {ML_DIALECT[e] for e in extensions(st) if e in ML_DIALECT}
    return {k[1]: v for k, v in COMMANDS.items() if k[0] in dialects}


def resolve_command(st, words, ctx):
    """Longest command path matching the leading words; unknown word -> az's exit-2 message."""
    cmds = available_commands(st)
    for n in range(len(words), 0, -1):
        if " ".join(words[:n]) in cmds:
            return cmds[" ".join(words[:n])], words[n:]
    # find where the path stops matching any command/group
    depth = 0
    while depth < len(words) and any(p.split()[:depth + 1] == words[:depth + 1] for p in cmds):
        depth += 1
    if depth == len(words):  # a command group: az prints the group's help and exits 0
        subs = sorted({p.split()[depth] for p in cmds if p.split()[:depth] == words[:depth]})
        return {"group_help": subs}, []
    bad = words[depth]
    if depth == 0 and bad == "ml":
        return dynamic_install(st, words, ctx)
    choices = sorted({p.split()[depth] for p in cmds if p.split()[:depth] == words[:depth]})
    extra = []
    close = close_matches(bad, choices, n=1, cutoff=0.7)
    if close:
        extra.append("Did you mean '{}' ?".format(close[0]))
    elif depth == 0:
        extra.append(EXTENSION_REFERENCE)
    raise AzError("'{}' is misspelled or not recognized by the system.".format(bad), 2, extra)


def dynamic_install(st, words, ctx):
    mode = (os.environ.get("AZURE_EXTENSION_USE_DYNAMIC_INSTALL")
            or session(st).get("config", {}).get("extension.use_dynamic_install") or "yes_prompt").lower()
    if mode == "yes_without_prompt":
        warn(ctx, "The command requires the extension ml. It will be installed first.")
        extensions(st)["ml"] = {"version": KNOWN_EXTENSIONS["ml"]}
        return resolve_command(st, words, ctx)
    if mode == "no":
        raise AzError("'ml' is misspelled or not recognized by the system.", 2, [EXTENSION_REFERENCE])
    raise AzError("The command requires the extension ml. Unable to prompt for extension install confirmation "
                  "as no tty available. Run 'az config set extension.use_dynamic_install=yes_without_prompt' "
                  "to allow installing extensions without prompt.", 2)


def looks_like_option(tok):
    """argparse treats '-x...' as an option unless it is a negative number or contains a space."""
    return tok.startswith("-") and len(tok) > 1 and not re.match(r"^-\d+$|^-\d*\.\d+$", tok) and " " not in tok


def parse_args(spec, args):
    flags = spec["flags"] + GLOBAL_FLAGS
    by_name = {n: f for f in flags for n in f.names}
    values = {f.dest: f.default for f in flags}
    seen, unknown, positional = set(), [], []
    positional_open = False
    cmd = "az " + spec["path"]
    i = 0
    while i < len(args):
        tok = args[i]
        i += 1
        if not looks_like_option(tok):
            # argparse consumes an nargs='+' positional from one contiguous block only
            if spec["positional"] and (not positional or positional_open):
                positional.append(tok)
                positional_open = True
            else:
                unknown.append(tok)
            continue
        positional_open = False
        name, eq, inline = tok.partition("=") if tok.startswith("--") else (tok, "", "")
        if not eq and not tok.startswith("--") and len(tok) > 2 and tok[:2] in by_name:
            name, eq, inline = tok[:2], "=", tok[2:]  # argparse-style '-nvalue'
        f = by_name.get(name)
        if f is None:
            unknown.append(tok)
            continue
        seen.add(f.dest)
        if f.kind == "bool":
            if eq:
                raise AzError("argument {}: ignored explicit argument '{}'".format(f.label, inline), 2)
            values[f.dest] = True
            continue
        if eq:
            vals = [inline]
        elif f.kind == "tri":  # nargs='?': '--hns' alone means true
            if i < len(args) and not looks_like_option(args[i]):
                vals = [args[i]]
                i += 1
            else:
                vals = ["true"]
        elif f.kind == "multi":
            vals = []
            while i < len(args) and not looks_like_option(args[i]):
                vals.append(args[i])
                i += 1
            if not vals:
                raise AzError("argument {}: expected at least one argument".format(f.label), 2)
        else:
            if i >= len(args) or looks_like_option(args[i]):
                raise AzError("argument {}: expected one argument".format(f.label), 2)
            vals = [args[i]]
            i += 1
        for v in vals:
            if f.choices is not None and v.lower() not in [c.lower() for c in f.choices]:
                close = close_matches(v, f.choices, n=1, cutoff=0.7)
                raise AzError("{}: '{}' is not a valid value for '{}'.".format(cmd, v, f.names[0]), 2,
                              ["Did you mean '{}' ?".format(close[0])] if close else
                              ["Allowed values: {}".format(", ".join(f.choices))])
        if f.kind == "int":
            try:
                values[f.dest] = int(vals[0])
            except ValueError:
                raise AzError("argument {}: invalid int value: '{}'".format(f.label, vals[0]), 2)
        elif f.kind == "multi":
            values[f.dest] = (values[f.dest] or []) + vals
        elif f.kind == "tri":
            values[f.dest] = vals[0].lower()
        else:
            values[f.dest] = vals[0]
    missing = [f.label for f in spec["flags"] if f.req and f.dest not in seen]
    if spec["positional"] and not positional:
        missing.append(spec["positional"])
    if missing:
        raise AzError("the following arguments are required: {}".format(", ".join(missing)), 2,
                      ["usage: {} {}".format(cmd, usage_of(spec))])
    if unknown:
        raise AzError("unrecognized arguments: {}".format(" ".join(unknown)), 2,
                      ["usage: {} {}".format(cmd, usage_of(spec))])
    if spec["positional"]:
        values[spec["positional"]] = positional
    return values


def usage_of(spec):
    parts = []
    for f in spec["flags"]:
        arg = f.names[0] + ("" if f.kind == "bool" else " {" + ",".join(f.choices) + "}" if f.choices
                            else " " + f.dest.upper())
        parts.append(arg if f.req else "[" + arg + "]")
    if spec["positional"]:
        parts.append(spec["positional"].upper())
    return " ".join(parts)
