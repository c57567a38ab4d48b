"""``python -m mlpspec``: the same as the ``mlpspec`` command."""

import sys

from mlpspec.cli import main

sys.exit(main())
