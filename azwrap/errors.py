"""Conditions that stop a run before az changes anything; the CLI shows them with exit code 2."""


class MissingInput(Exception):
    """A step cannot run: a value it needs is not recorded, or was recorded for other settings."""


class Refused(Exception):
    """Running would lose, duplicate or break something; the message says what to do instead."""
