"""`python -m bench`: every benchmark figure in one table (bench/suite.py)."""

import sys

from bench.suite import main

sys.exit(main())
