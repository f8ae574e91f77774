"""``python -m tradelake.report``: the command line of tradelake.report.cli."""

import sys

from tradelake.report.cli import main

sys.exit(main())
