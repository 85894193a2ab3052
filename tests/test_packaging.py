"""The distribution installs `lambda_rlm` and nothing else, ships every .lam/.lark file, and the
repository tree is the import tree (the editable install maps the same way).

The slow half builds a wheel from a copy of the checkout, installs it with its dependencies
into a fresh virtualenv (one per session) and imports it from outside the repo. The fast half
checks that pyproject.toml lists every package folder and that the editable install works.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

# Folders whose files ship, with the package each one becomes.
SHIPPED_FOLDERS = {"lambda_rlm": "lambda_rlm"}
LANGUAGE_SUFFIXES = (".lam", ".lark")
# Names that must never become importable top-level modules (the library's and the benchmarks' folders
# sit inside the package).
REPO_ONLY_NAMES = ("combinators", "tasks")
IGNORED_DIRS = {"__pycache__", ".venv", "build", "dist", ".git"}


def clean_env() -> dict[str, str]:
    """The environment minus anything that would leak the dev checkout into a child Python."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_NO_INPUT"] = "1"
    return env


def run(cmd: Sequence[str | Path], cwd: Path, timeout: float = 900) -> str:
    """Run a command, fail the test with its output if it fails, return its stdout."""
    done = subprocess.run(
        [str(part) for part in cmd],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"{cmd} exited {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done.stdout


def pyproject(repo_root: Path) -> dict[str, object]:
    with (repo_root / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def declared_packages(repo_root: Path) -> dict[str, Path]:
    """Each package setuptools finds from pyproject.toml's `packages.find`, with its folder."""
    from setuptools import find_packages

    find = pyproject(repo_root)["tool"]["setuptools"]["packages"]["find"]  # type: ignore[index]
    names = find_packages(where=str(repo_root), include=find["include"])
    return {name: repo_root / name.replace(".", "/") for name in names}


def package_folders(root: Path) -> dict[str, Path]:
    """Each folder under the shipped folders that holds code or language files, by package."""
    found = {}
    for folder, package in SHIPPED_FOLDERS.items():
        base = root / folder
        for path in [base, *sorted(p for p in base.rglob("*") if p.is_dir())]:
            rel = path.relative_to(base)
            if IGNORED_DIRS & set(rel.parts):
                continue
            if any(f.suffix in (".py", *LANGUAGE_SUFFIXES) for f in path.iterdir()):
                found[".".join([package, *rel.parts])] = path
    return found


def language_files(root: Path) -> list[tuple[str, str, str]]:
    """(package, path relative to it, sha256) for every .lam/.lark file under `root`."""
    files = []
    for folder, package in SHIPPED_FOLDERS.items():
        for path in sorted((root / folder).rglob("*")):
            rel = path.relative_to(root / folder)
            if path.suffix in LANGUAGE_SUFFIXES and not IGNORED_DIRS & set(rel.parts):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                files.append((".".join((package, *rel.parent.parts)), rel.name, digest))  # the file's own package
    return files


# --- fast checks against the checkout --------------------------------------------------------


def test_pyproject_declares_every_package_folder(repo_root: Path) -> None:
    declared = declared_packages(repo_root)
    on_disk = package_folders(repo_root)
    assert sorted(on_disk) == sorted(declared), (
        "every folder with code or .lam/.lark files needs an __init__.py, or setuptools' "
        "packages.find skips it"
    )
    for name, folder in declared.items():
        assert folder.resolve() == on_disk[name].resolve(), name


def test_only_lambda_rlm_is_declared(repo_root: Path) -> None:
    for name in declared_packages(repo_root):
        assert name == "lambda_rlm" or name.startswith("lambda_rlm."), name


EDITABLE_PROBE = """
import importlib.util, json, sys
from importlib import metadata
try:
    text = metadata.distribution("lambda-rlm").read_text("direct_url.json")
    direct_url = json.loads(text or "{}")
except metadata.PackageNotFoundError:
    direct_url = {}
report = {"editable": direct_url.get("dir_info", {}).get("editable", False),
          "url": direct_url.get("url", "")}
if report["editable"]:
    import lambda_rlm, lambda_rlm.combinators
    report["lambda_rlm"] = lambda_rlm.__file__
    report["combinators"] = lambda_rlm.combinators.__file__
    report["top_level"] = [name for name in sys.argv[1:] if importlib.util.find_spec(name)]
print(json.dumps(report))
"""


def test_editable_install_maps_combinators_into_the_package(
    repo_root: Path, tmp_path: Path
) -> None:
    # -I and a cwd outside the repo: only the installed editable finder can resolve the names.
    probe = [sys.executable, "-I", "-c", EDITABLE_PROBE, *REPO_ONLY_NAMES]
    report = json.loads(run(probe, cwd=tmp_path))
    if not report["editable"] or Path(report["url"].removeprefix("file://")) != repo_root:
        pytest.skip('needs `pip install -e ".[test]"` of this checkout in the running Python')
    assert Path(report["lambda_rlm"]).resolve() == repo_root / "lambda_rlm" / "__init__.py"
    assert Path(report["combinators"]).resolve() == repo_root / "lambda_rlm" / "combinators" / "__init__.py"
    assert report["top_level"] == []


# --- slow checks against a wheel installed in a fresh virtualenv ------------------------------


def copy_checkout(repo_root: Path, dest: Path) -> Path:
    """Copy what a clean clone would hold (tracked plus untracked, not ignored) to `dest`."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=repo_root,
            capture_output=True,
            check=True,
        ).stdout.decode()
        names = [name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        names = [
            str(p.relative_to(repo_root))
            for p in repo_root.rglob("*")
            if p.is_file() and not IGNORED_DIRS & set(p.relative_to(repo_root).parts)
        ]
    for name in names:
        source = repo_root / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def installed_python(workdir: Path, repo_root: Path) -> Path:
    """Build a wheel of the checkout, install it (with dependencies) into a fresh virtualenv
    under `workdir`, and return that virtualenv's python. Checks that need the installed
    package (e.g. that the bundled library type-checks) run code with `run_installed`."""
    source = copy_checkout(repo_root, workdir / "src")
    run([sys.executable, "-m", "build", "--wheel", "--outdir", workdir / "dist", source], workdir)
    (wheel,) = (workdir / "dist").glob("lambda_rlm-*.whl")
    run([sys.executable, "-m", "venv", workdir / "venv"], workdir)
    python = workdir / "venv" / "bin" / "python"
    run([python, "-m", "pip", "install", "--quiet", wheel], workdir)
    return python


def run_installed(python: Path, code: str, cwd: Path, *args: str) -> str:
    """Run `code` in the installed virtualenv, isolated (-I: no cwd, no PYTHON* variables)."""
    return run([python, "-I", "-c", code, *args], cwd=cwd)


@dataclass(frozen=True)
class Installed:
    python: Path
    wheel: Path
    source: Path  # the copy the wheel was built from
    outside: Path  # an empty folder outside the repo to run from


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Installed:
    workdir = tmp_path_factory.mktemp("packaging")
    python = installed_python(workdir, repo_root)
    (wheel,) = (workdir / "dist").glob("lambda_rlm-*.whl")
    outside = workdir / "elsewhere"
    outside.mkdir()
    return Installed(python=python, wheel=wheel, source=workdir / "src", outside=outside)


@pytest.mark.slow
def test_wheel_holds_only_the_lambda_rlm_package(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        top_level = {name.split("/")[0] for name in wheel.namelist()}
        assert top_level == {"lambda_rlm", "lambda_rlm-0.1.0.dist-info"}
        entry_points = wheel.read("lambda_rlm-0.1.0.dist-info/entry_points.txt").decode()
    assert "lambda-rlm = lambda_rlm.cli.app:console_main" in entry_points


@pytest.mark.slow
def test_installed_package_imports_from_site_packages(installed: Installed) -> None:
    code = (
        "import json, sysconfig, lambda_rlm, lambda_rlm.combinators\n"
        "print(json.dumps([sysconfig.get_paths()['purelib'], lambda_rlm.__file__,\n"
        "                  lambda_rlm.combinators.__file__]))\n"
    )
    purelib, package, combinators = json.loads(
        run_installed(installed.python, code, installed.outside)
    )
    site = Path(purelib).resolve()
    venv = installed.python.parent.parent.resolve()
    assert site.is_relative_to(venv)
    assert Path(package).resolve() == site / "lambda_rlm" / "__init__.py"
    assert Path(combinators).resolve() == site / "lambda_rlm" / "combinators" / "__init__.py"


@pytest.mark.slow
def test_repo_only_folders_are_not_importable(installed: Installed) -> None:
    code = (
        "import importlib.util, json, sys\n"
        "print(json.dumps([n for n in sys.argv[1:] if importlib.util.find_spec(n)]))\n"
    )
    found = json.loads(run_installed(installed.python, code, installed.outside, *REPO_ONLY_NAMES))
    assert found == []


@pytest.mark.slow
def test_every_language_file_is_installed(installed: Installed) -> None:
    expected = language_files(installed.source)
    assert any(package == "lambda_rlm.combinators" for package, _, _ in expected)
    code = (
        "import hashlib, importlib.resources, json, sys\n"
        "found = []\n"
        "for package, rel, _ in json.loads(sys.argv[1]):\n"
        "    item = importlib.resources.files(package).joinpath(rel)\n"
        "    digest = hashlib.sha256(item.read_bytes()).hexdigest() if item.is_file() else None\n"
        "    found.append([package, rel, digest])\n"
        "print(json.dumps(found))\n"
    )
    found = json.loads(
        run_installed(installed.python, code, installed.outside, json.dumps(expected))
    )
    assert [tuple(row) for row in found] == expected


@pytest.mark.slow
def test_console_script_is_installed(installed: Installed) -> None:
    script = installed.python.parent / "lambda-rlm"
    assert script.is_file()
    assert "lambda_rlm.cli" in script.read_text()


@pytest.mark.slow
def test_installed_library_type_checks_and_the_command_runs(installed: Installed) -> None:
    code = (
        "import lambda_rlm\n"
        "from lambda_rlm import standard_library\n"
        "lib = standard_library()\n"
        "p = lambda_rlm.compile('def main (doc : Text) = most_common (lines doc)', lib)\n"
        "print(p.type, len(lib.combinators), sorted(lib.modules))\n"
    )
    assert run_installed(installed.python, code, installed.outside).split() == [
        "Text", "->", "Option", "Text", str(len(_repo_combinators())), *str(_repo_modules()).split()]
    example = installed.source / "examples" / "search.lam"
    out = run([installed.python.parent / "lambda-rlm", "check", example, "--input-tokens", "32k"],
              installed.outside)
    assert out.startswith("main : Text -> Text -> Text")


def _repo_combinators() -> list[str]:
    from lambda_rlm.core.registry import standard_library

    return list(standard_library(plugins=False).combinators)


def _repo_modules() -> list[str]:
    from lambda_rlm.core.registry import standard_library

    return sorted(standard_library(plugins=False).modules)
