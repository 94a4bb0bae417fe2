"""Tab completion: click's own for bash, zsh and fish, and azwrap's for PowerShell.

Imported only when a shell asks for completions or for its script, so start-up stays fast.
"""

from __future__ import annotations

import os

from click.shell_completion import ShellComplete, add_completion_class, get_completion_class, split_arg_string

COMPLETE_VAR = "_AZWRAP_COMPLETE"
SHELLS = ("powershell", "bash", "zsh", "fish")

# PowerShell calls this block for `azwrap <Tab>`; azwrap answers lines of "type<TAB>value<TAB>help".
# The variables it sets for azwrap are removed again, so the session is left as it was.
_SOURCE_POWERSHELL = """\
Register-ArgumentCompleter -Native -CommandName %(prog_name)s -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $line = $commandAst.Extent.Text
    $upToCursor = $cursorPosition - $commandAst.Extent.StartOffset
    if ($upToCursor -lt $line.Length) { $line = $line.Substring(0, $upToCursor) }
    $env:COMP_WORDS = $line
    $env:COMP_INCOMPLETE = $wordToComplete
    $env:%(complete_var)s = 'powershell_complete'
    try {
        $completions = @(& %(prog_name)s 2>$null)
    } finally {
        Remove-Item -LiteralPath 'Env:COMP_WORDS', 'Env:COMP_INCOMPLETE', 'Env:%(complete_var)s' -ErrorAction SilentlyContinue
    }
    foreach ($completion in $completions) {
        $type, $value, $help = $completion -split "`t", 3
        if ($type -ne 'plain') { return }  # a file or directory: PowerShell's own path completion
        $text = $value
        if ($value -match '[\\s''"`$;&|(){}@,]') { $text = "'" + ($value -replace "'", "''") + "'" }
        $kind = if ($value.StartsWith('-')) { 'ParameterName' } else { 'ParameterValue' }
        if (-not $help) { $help = $value }
        [System.Management.Automation.CompletionResult]::new($text, $value, $kind, $help)
    }
}
"""


class PowerShellComplete(ShellComplete):
    """Completion for PowerShell (click has none): the command line up to the cursor in COMP_WORDS,
    the word being completed in COMP_INCOMPLETE."""

    name = "powershell"
    source_template = _SOURCE_POWERSHELL

    def get_completion_args(self) -> tuple[list[str], str]:
        words = split_arg_string(os.environ.get("COMP_WORDS", ""))
        incomplete = os.environ.get("COMP_INCOMPLETE", "")
        args = words[1:]
        if incomplete and args and args[-1] == incomplete:
            args = args[:-1]
        return args, incomplete

    def format_completion(self, item) -> str:
        help_text = " ".join((item.help or "").split())  # one line, no tabs
        return f"{item.type}\t{item.value}\t{help_text}"


add_completion_class(PowerShellComplete)


def script(cli, shell: str, prog_name: str = "azwrap") -> str:
    """The completion script for shell, to install in the user's profile."""
    completer = get_completion_class(shell)(cli, {}, prog_name, COMPLETE_VAR)
    # source_template directly: click's bash source() would first run `bash --version` here, but
    # the script may well be meant for another machine (and every process goes through the runner).
    return completer.source_template % completer.source_vars()
