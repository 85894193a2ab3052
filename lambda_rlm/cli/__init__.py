"""The command line: `app.main` runs `lambda-rlm`, dispatching to one module per subcommand over the shared `options`.

This file imports none of its modules, so a subcommand module may import `options` through the
package without a circle. `lambda_rlm.cli` was one module before the package had phase folders;
its names (`main` among them) still resolve here, through `app`, for one release.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    from lambda_rlm.core.moved import forward

    return forward(__name__, "app", name)
