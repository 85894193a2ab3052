"""`python -m lambda_rlm`: the command line."""

from lambda_rlm.cli.app import console_main

console_main()
