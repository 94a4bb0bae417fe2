"""The azwrap command line: parse options, build settings, pick a runner, call the steps."""

from __future__ import annotations

import os
import signal

import click

from .. import __version__
from ..az import launch
from ..az.runner import Interrupted
from .options import EXIT_INTERRUPTED, Failure
from ..az.process import install_handlers


class BookOrder(click.Group):
    """Lists commands in the book's order; makes SIGTERM and Ctrl-C end any command with exit 130."""

    def list_commands(self, ctx):
        return list(self.commands)

    def _main_shell_completion(self, ctx_args, prog_name, complete_var=None):
        if os.environ.get("_AZWRAP_COMPLETE"):
            from ..ui import completion  # noqa: F401  (registers PowerShell's completion; loaded only when asked)
        return super()._main_shell_completion(ctx_args, prog_name, complete_var)

    def invoke(self, ctx):
        launch.disable_core_dumps()  # a core file would hold the secret
        previous = install_handlers()
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, Interrupted):
            raise Failure("Interrupted.", EXIT_INTERRUPTED) from None
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


@click.group(cls=BookOrder, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="azwrap")
def main():
    """Set up Azure Machine Learning as chapter 7 of "Data Engineering on Azure" does, with the
    same az commands: safely, repeatably and in one go.

    Run `azwrap all --account NAME` for the whole setup, one step command at a time, or
    `azwrap plan` for the commands as a script to copy and paste. New to it? `azwrap demo` runs the
    setup and its teardown offline, against a simulator of az. `azwrap COMMAND --help` shows the az
    commands each one runs.
    """


from . import scripts, setup, status, teardown, verify  # noqa: E402  (they import options and run, not this module)

for _command in (setup.ALL, *setup.STEP_COMMANDS, verify.VERIFY, verify.SDK_CONFIG, teardown.ROTATE, setup.DOCTOR,
                 status.ENV, scripts.PLAN, scripts.COMPLETION, status.STATUS, teardown.DESTROY, status.LOG, setup.DEMO):
    main.add_command(_command)
