"""Shared pytest setup: the markers live in pyproject.toml; this file only adds `repo_root`.

Markers: `slow` (builds a wheel, makes a virtualenv, large inputs) and `model` (needs the
embedded local model). Quick loop: `pytest -q -m "not slow"`.
"""

import os
from pathlib import Path

import pytest

# Whatever test module imports litellm first, it must read the bundled price table, not the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The checkout the tests run against (the folder holding pyproject.toml)."""
    return REPO_ROOT


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true", help="rewrite the golden files of tests/golden")
