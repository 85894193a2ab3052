"""`python -m lambda_rlm`: the command line."""

import sys

from lambda_rlm.cli import main

sys.exit(main())
