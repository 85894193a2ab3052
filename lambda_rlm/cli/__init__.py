"""The command line: `main` runs `lambda-rlm`; `app` parses and dispatches to one module per subcommand.

`lambda_rlm.cli` was one module before the package had phase folders; its other names still
resolve here, through `app`, for one release.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    """`lambda-rlm ARGS…`: the exit code (the console script and `python -m lambda_rlm`)."""
    from .app import main as run

    return run(argv)


def __getattr__(name: str) -> Any:
    from lambda_rlm.core.moved import forward

    return forward(__name__, "app", name)
