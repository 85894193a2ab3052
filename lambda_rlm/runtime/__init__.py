"""The runtime: the evaluator, hole expansion, traces and the run session (`session.run`/`arun`).

`lambda_rlm.runtime` was one module before the package had phase folders; its names still resolve
here, through `session`, for one release (import them from `lambda_rlm` instead).
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    from lambda_rlm.core.moved import forward

    return forward(__name__, "session", name)
