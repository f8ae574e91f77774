"""``python -m tradelake.replay``: the command line of tradelake.replay.cli."""

import sys

from tradelake.replay.cli import main

sys.exit(main())
