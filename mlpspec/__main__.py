"""``python -m mlpspec``: the same as the ``mlpspec`` command."""

from mlpspec.cli.main import entry

entry()
