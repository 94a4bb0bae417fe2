"""az-sim: an OFFLINE stand-in for the Azure CLI (`az`) 2.91, for testing azwrap.

It never uses the network and never touches ~/.azure.  All state lives in
$AZSIM_HOME/state.json (default ./.az-sim/).  Run `az-sim --help` for details.
Standard library only (it starts once per az call): a module per az command group (account, extension,
group, storage, ad, role, ml_v1, ml_v2, resource) over core (identities, errors, state file, lock, command
table), with parse (argv to a command), output (--query, formats) and cli (one call, main).
"""
from .cli import main

__all__ = ["main"]
