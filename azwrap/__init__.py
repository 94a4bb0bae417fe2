"""azwrap: the Azure ML setup of "Data Engineering on Azure" (ch. 7), run safely with az."""

__version__ = "0.1.0"
