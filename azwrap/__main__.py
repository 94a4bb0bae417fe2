"""`python -m azwrap`: the same as the azwrap program."""

from .cli import main

main()
