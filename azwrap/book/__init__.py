"""The book as data: settings, the az invocations, the steps and their graph, the scripts."""
