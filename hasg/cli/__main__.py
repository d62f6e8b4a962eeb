"""`python -m hasg.cli`: the same as the `hasg` command."""

import sys

from hasg.cli import main

sys.exit(main())
