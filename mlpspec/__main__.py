"""``python -m mlpspec``: the same as the ``mlpspec`` command."""

import sys

from mlpspec.cli.main import main

sys.exit(main())
