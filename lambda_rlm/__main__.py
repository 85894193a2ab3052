"""`python -m lambda_rlm`: the command line."""

import sys

from lambda_rlm.cli.app import main

sys.exit(main())
