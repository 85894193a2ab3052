"""Where lambda-rlm keeps files between runs: takes the environment, gives the user's cache folder."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """`$LAMBDA_RLM_CACHE_DIR`, else `~/.cache/lambda-rlm` (computed, not created)."""
    configured = os.environ.get("LAMBDA_RLM_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "lambda-rlm"
