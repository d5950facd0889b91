"""tfam's command line: the ``tfam`` parser (``main``), one module per command, and the helpers that
every program (train.py, eval.py, the data tools, the demos) shares (``common``)."""

from tfam.cli.main import main

__all__ = ["main"]
