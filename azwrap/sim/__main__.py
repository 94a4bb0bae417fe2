"""`python -m azwrap.sim ARGS`: the simulator, as `azwrap-sim ARGS` runs it."""
import sys

from .cli import main

sys.exit(main())
