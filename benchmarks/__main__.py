"""`python -m benchmarks` (what `make bench` runs): hands the command line to ``benchmarks.cli``."""

import sys

from benchmarks.cli import main

sys.exit(main())
