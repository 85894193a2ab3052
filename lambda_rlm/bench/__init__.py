"""The benchmark suite: the runner (`runner`) and its tasks (generators, scorers, the reference model).

`lambda_rlm.bench` was the runner module before the package had phase folders; its names still
resolve here, through `runner`, for one release.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    from lambda_rlm.core.moved import forward

    return forward(__name__, "runner", name)
