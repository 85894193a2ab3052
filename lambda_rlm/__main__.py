"""`python -m lambda_rlm`: the command line."""

import sys

from .cli import main

sys.exit(main())
