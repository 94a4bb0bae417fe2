"""`az extension ...`, `az version`, `az config set`."""
import os

from .core import AzError, CLI_VERSION, F, KNOWN_EXTENSIONS, ML_DIALECT, command, warn
from .principal import extension_dir, extensions, session


def retired_extensions():
    return {e.strip() for e in os.environ.get("AZSIM_RETIRED_EXTENSIONS", "").split(",") if e.strip()}


@command("extension list-available", [F("--show-details -d", kind="bool")], no_login=True)
def cmd_extension_list_available(st, a, ctx):
    return [{"experimental": False, "installed": name in extensions(st), "name": name, "preview": False,
             "summary": "Microsoft Azure Command-Line Tools AzureMachineLearningWorkspaces Extension",
             "version": version}
            for name, version in sorted(KNOWN_EXTENSIONS.items()) if name not in retired_extensions()]


@command("version", [], no_login=True)
def cmd_version(st, a, ctx):
    return {"azure-cli": CLI_VERSION, "azure-cli-core": CLI_VERSION, "azure-cli-telemetry": "1.1.0",
            "extensions": {n: e["version"] for n, e in sorted(extensions(st).items())}}


@command("config set", [F("--local", kind="bool")], positional="key_value", no_login=True)
def cmd_config_set(st, a, ctx):
    for kv in a["key_value"]:
        key, sep, value = kv.partition("=")
        if not sep or "." not in key:
            raise AzError("usage error: argument values should be in the format a.b.c=value or a.b=value")
        session(st).setdefault("config", {})[key] = value


def ext_info(name, info):
    return {"experimental": False, "extensionType": "whl", "name": name,
            "path": os.path.join(extension_dir(), name), "preview": False,
            "version": info["version"]}


@command("extension add", [F("--name -n", req=True), F("--upgrade", kind="bool"), F("--yes -y", kind="bool"),
                           F("--version"), F("--source -s"), F("--allow-preview", kind="tri")], no_login=True)
def cmd_extension_add(st, a, ctx):
    name, installed = a["name"], extensions(st)
    if name not in KNOWN_EXTENSIONS or name in retired_extensions():
        raise AzError("No matching extensions for '{}'. Use --debug for more information.".format(name))
    if name in installed:
        warn(ctx, ("Latest version of '{}' is already installed." if a["upgrade"]
                   else "Extension '{}' is already installed.").format(name))
        return None
    for other in installed:
        if other in ML_DIALECT and other != name:
            raise AzError("The extension '{}' cannot be installed alongside '{}': both provide the 'az ml' "
                          "command group. Remove it first with 'az extension remove -n {}'."
                          .format(name, other, other))
    version = a["version"] or KNOWN_EXTENSIONS[name]
    if version != KNOWN_EXTENSIONS[name]:
        raise AzError("No matching extensions for '{}' with version '{}'.".format(name, version))
    installed[name] = {"version": version}
    return None


@command("extension show", [F("--name -n", req=True)], no_login=True)
def cmd_extension_show(st, a, ctx):
    info = extensions(st).get(a["name"])
    if info is None:
        raise AzError("The extension {} is not installed.".format(a["name"]))
    return ext_info(a["name"], info)


@command("extension list", [], no_login=True)
def cmd_extension_list(st, a, ctx):
    return [ext_info(n, i) for n, i in sorted(extensions(st).items())]


@command("extension remove", [F("--name -n", req=True)], no_login=True)
def cmd_extension_remove(st, a, ctx):
    if a["name"] not in extensions(st):
        raise AzError("The extension {} is not installed.".format(a["name"]))
    del extensions(st)[a["name"]]
