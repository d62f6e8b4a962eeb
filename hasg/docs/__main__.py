"""`python -m hasg.docs`: regenerate the generated docs and the committed module."""

import sys

from hasg.docs import main

sys.exit(main())
