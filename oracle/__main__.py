"""`python -m oracle`: the oracle's command line (oracle.cli)."""

import sys

from oracle.cli import main

sys.exit(main())
