"""The public surface: what `lambda_rlm` exports, the errors' exit codes, and the README importing only from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import lambda_rlm
from lambda_rlm.core import errors

ROOT = Path(__file__).resolve().parent.parent

# README, "Exit codes": each failure class and the code the command line exits with.
EXIT_CODES = [
    (errors.ParseError, 1), (errors.ModuleImportError, 1), (errors.UnboundNameError, 1),
    (errors.TypeCheckError, 1), (errors.TerminationError, 1), (errors.CostError, 1),
    (errors.EvalError, 3), (errors.LeafError, 3), (errors.HoleError, 3),
    (errors.BudgetExceeded, 4), (errors.BudgetRefusal, 4), (errors.SearchCutOff, 4),
    (errors.ConfigError, 5),
]


@pytest.mark.parametrize("name", lambda_rlm.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(lambda_rlm, name) is not None


@pytest.mark.parametrize(("cls", "code"), EXIT_CODES, ids=[c.__name__ for c, _ in EXIT_CODES])
def test_each_error_class_carries_its_exit_code(cls: type[errors.LambdaError], code: int) -> None:
    assert cls.exit_code == code


def test_every_error_class_of_the_package_is_in_the_table() -> None:
    defined = {v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, errors.LambdaError)}
    assert defined - {errors.LambdaError} == {cls for cls, _ in EXIT_CODES}


def test_the_old_error_names_are_the_new_classes() -> None:
    assert lambda_rlm.ImportError_ is lambda_rlm.ModuleImportError
    assert lambda_rlm.NameError_ is lambda_rlm.UnboundNameError
    assert lambda_rlm.TypeError_ is lambda_rlm.TypeCheckError


def test_the_readme_imports_only_from_the_package_itself() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert blocks, "the README has Python examples"
    deep = [line for block in blocks for line in block.splitlines()
            if re.match(r"\s*(from|import) lambda_rlm\.", line)]
    assert deep == []
    for block in blocks:
        for name in re.findall(r"^from lambda_rlm import (.+)$", block, re.MULTILINE):
            for part in name.split(","):
                assert part.strip() in lambda_rlm.__all__


# ---------------------------------------------------------------------- old module paths (issue 12)

OLD_PATHS = [
    ("lambda_rlm.ask_compiler", "lambda_rlm.strategies.plan"), ("lambda_rlm.cost", "lambda_rlm.analysis.cost"),
    ("lambda_rlm.errors", "lambda_rlm.core.errors"), ("lambda_rlm.local", "lambda_rlm.models.local"),
    ("lambda_rlm.tasks.reference", "lambda_rlm.bench.tasks.reference"),
    ("lambda_rlm.cli_options", "lambda_rlm.cli.options"),
]


@pytest.mark.parametrize(("old", "new"), OLD_PATHS)
def test_an_old_module_path_is_the_moved_module_with_a_warning(old: str, new: str) -> None:
    import importlib
    import sys

    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{re.escape(old)} moved to {re.escape(new)}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert module.__spec__ is not None and module.__spec__.name == new  # the real module keeps its own spec


def test_old_modules_that_became_packages_forward_their_names() -> None:
    from lambda_rlm.runtime import session

    with pytest.warns(DeprecationWarning, match="lambda_rlm.runtime.Config moved"):
        from lambda_rlm.runtime import Config
    assert Config is session.Config is lambda_rlm.Config
    from lambda_rlm.cli import app

    with pytest.warns(DeprecationWarning, match="lambda_rlm.cli.main moved to lambda_rlm.cli.app.main"):
        from lambda_rlm.cli import main
    assert main is app.main  # the old console-script path reaches the new one
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        lambda_rlm.runtime.nothing_here  # noqa: B018


def test_a_name_that_never_existed_is_not_found() -> None:
    import importlib

    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("lambda_rlm.no_such_module")
