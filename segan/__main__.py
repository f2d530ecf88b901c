"""`python -m segan` is the `segan` command."""

import sys

from segan.cli import main

sys.exit(main())
