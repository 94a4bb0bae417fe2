"""Read a PowerShell script with a real PowerShell grammar (tree-sitter-powershell).

No PowerShell runs here, so the generated scripts are checked by parsing: no syntax errors, and
the az commands the parser sees, with the values it would pass, equal the plan's argv.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import tree_sitter
import tree_sitter_powershell

_PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def parse(script: str) -> tree_sitter.Node:
    return _PARSER.parse(script.encode("utf-8")).root_node


def errors(script: str) -> list[str]:
    """Text of every ERROR or missing node: empty for a script PowerShell would accept."""
    found = []

    def walk(node):
        if node.type == "ERROR" or node.is_missing:
            found.append(f"line {node.start_point[0] + 1}: {node.text.decode()[:60]!r}")
        for child in node.children:
            walk(child)

    walk(parse(script))
    return found


_SUBEXPRESSION = re.compile(r"\$\((\$[A-Za-z]+\.[A-Za-z]+)\)")


@dataclass(frozen=True)
class Var:
    """A value PowerShell reads from a variable at run time (`$sp.appId`): never equal to literal text."""

    name: str


@dataclass(frozen=True)
class Expanded:
    """A double-quoted string with `$(...)` parts: its literal text and Vars, in order."""

    parts: tuple


def expandable(inner: str):
    """The value of a double-quoted string: `x escapes stand for x; $($var.field) is a Var.

    Literal text only: a str. With run-time parts: an Expanded."""
    parts, text, i = [], [], 0
    while i < len(inner):
        ch = inner[i]
        if ch == "`":
            escaped = inner[i + 1]
            if escaped in "0abefnrtuv":
                raise AssertionError(f"unexpected escape `{escaped} in {inner!r}")
            text.append(escaped)
            i += 2
        elif ch == "$":
            match = _SUBEXPRESSION.match(inner, i)
            if not match:
                raise AssertionError(f"unescaped $ expands in {inner!r}")
            parts += ["".join(text), Var(match.group(1))] if text else [Var(match.group(1))]
            text = []
            i = match.end()
        else:
            text.append(ch)
            i += 1
    if text:
        parts.append("".join(text))
    if all(isinstance(part, str) for part in parts):
        return "".join(parts)
    return Expanded(tuple(parts))


def _value(node):
    """What PowerShell passes for one command element: literal text as str, quotes resolved; a
    variable (`$x`, `$sp.appId`, a splatted `@x`) as a Var."""
    if node.type in ("variable", "member_access"):
        return Var(node.text.decode())
    if node.type == "generic_token":
        text = node.text.decode()
        # The grammar keeps `a$b` one bare word, but PowerShell expands $b in it, and ` escapes.
        if "$" in text or "`" in text:
            raise AssertionError(f"bare word {text!r}: PowerShell would expand or unescape part of it")
        return text
    if node.type in ("command_parameter", "decimal_integer_literal"):
        return node.text.decode()
    if node.type == "string_literal":
        text = node.text.decode()
        if text[0] in "'\u2018\u2019\u201a\u201b":  # verbatim: doubled quotes stand for one
            inner = text[1:-1]
            for quote in "'\u2018\u2019\u201a\u201b":
                inner = inner.replace(quote * 2, quote)
            return inner
        if text.startswith('@"'):
            return expandable(text[2:].removeprefix("\n").removesuffix('"@').removesuffix("\n"))
        return expandable(text[1:-1])
    if node.child_count == 1:
        return _value(node.children[0])
    raise AssertionError(f"unexpected element {node.type}: {node.text.decode()!r}")


def az_commands(script: str) -> list[tuple[str | None, list[str]]]:
    """Each az command as (the variable its JSON is assigned to or None, argv)."""
    commands = []

    def walk(node):
        if node.type == "command" and node.child_by_field_name("command_name") is not None:
            name = node.child_by_field_name("command_name").text.decode()
            if name == "az":
                elements = next((c for c in node.children if c.type == "command_elements"), None)
                argv = ["az"] + [
                    _value(c) for c in (elements.children if elements else []) if c.type != "command_argument_sep"
                ]
                commands.append((_assigned_to(node), argv))
        for child in node.children:
            walk(child)

    walk(parse(script))
    return commands


def _assigned_to(command) -> str | None:
    """`$sp` in `$sp = az ... | ConvertFrom-Json`; None when the output is not captured."""
    chain = command.parent
    names = [c.child_by_field_name("command_name") for c in chain.children if c.type == "command"]
    converts = any(n is not None and n.text.decode() == "ConvertFrom-Json" for n in names)
    node = chain
    while node is not None and node.type != "assignment_expression":
        node = node.parent
    if node is None:
        return None
    variable = node.children[0].text.decode()
    return variable.lstrip("$") if converts else f"{variable} (without ConvertFrom-Json)"


def files_written(script: str) -> dict[str, str]:
    """Files the script writes with `@"..."@ | Set-Content -LiteralPath NAME`: name -> content."""
    files = {}

    def walk(node):
        if node.type == "pipeline_chain":
            commands = [c for c in node.children if c.type == "command"]
            here = [c for c in node.children if c.type != "command" and "@\"" in c.text.decode()[:2]]
            for command in commands:
                if command.child_by_field_name("command_name").text.decode() == "Set-Content" and here:
                    elements = [c for c in next(c for c in command.children if c.type == "command_elements").children
                                if c.type != "command_argument_sep"]
                    assert [e.text.decode() for e in elements[:1]] == ["-LiteralPath"], command.text
                    files[_value(elements[1])] = _value(_string_node(here[0]))
        for child in node.children:
            walk(child)

    walk(parse(script))
    return files


def _string_node(node):
    while node.type != "string_literal":
        node = node.children[0]
    return node
