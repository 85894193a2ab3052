"""`import lambda_rlm` does no I/O and loads no heavy dependency (DESIGN habit 10).

Each import runs in a fresh interpreter with an audit hook installed before the import, so
the check sees exactly what importing the package does: file opens other than Python modules,
directory creation, SQLite connections, DNS look-ups, socket connections and subprocesses.
The second half of the file imports deliberately bad packages to prove the check can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

# Heavy or optional dependencies that must only be imported when a run actually needs them.
FORBIDDEN_AT_IMPORT = ("litellm", "llama_cpp", "tiktoken", "rich", "openai", "httpx", "aiohttp")

WATCHED_EVENTS = (
    "open",
    "os.mkdir",
    "sqlite3.connect",
    "socket.getaddrinfo",
    "socket.connect",
    "socket.bind",
    "subprocess.Popen",
    "os.system",
    "os.posix_spawn",
    "os.exec",
    "os.fork",
)

# Runs in the child interpreter. argv: module to import, JSON list of watched events,
# JSON list of forbidden modules. Prints one JSON object.
AUDIT_SCRIPT = textwrap.dedent(
    r"""
    import json, os, sys

    MODULE = sys.argv[1]
    WATCHED = frozenset(json.loads(sys.argv[2]))
    FORBIDDEN = json.loads(sys.argv[3])
    IMPORT_SUFFIXES = (".py", ".pyc", ".so", ".pyd")
    events = []
    recording = True

    def as_text(path):
        if isinstance(path, bytes):
            return os.fsdecode(path)
        return path if isinstance(path, str) else None

    def is_import_machinery(event, args):
        # The import system reads sources, bytecode and extensions, probes sys.path entries
        # (zip files among them) and writes __pycache__; none of that is the package's doing.
        if event not in ("open", "os.mkdir") or not args:
            return False
        path = as_text(args[0])
        if path is None:
            return False
        if "__pycache__" in path.split(os.sep):
            return True
        if event == "open" and path.endswith(IMPORT_SUFFIXES):
            return True
        entries = {os.path.abspath(entry) for entry in sys.path if entry}
        return os.path.abspath(path) in entries

    def hook(event, args):
        if recording and event in WATCHED and not is_import_machinery(event, args):
            events.append([event, repr(args)[:300]])

    sys.addaudithook(hook)
    __import__(MODULE)
    recording = False
    loaded = [name for name in FORBIDDEN if name in sys.modules]
    print(json.dumps({"events": events, "loaded": loaded}))
    """
)


@dataclass(frozen=True)
class ImportAudit:
    """What importing one module did: watched audit events and forbidden modules loaded."""

    events: list[list[str]]
    loaded: list[str]


def audit_import(module: str, cwd: Path, extra_path: list[Path] | None = None) -> ImportAudit:
    """Import `module` in a fresh interpreter under an audit hook and report what it did."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in extra_path)
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            AUDIT_SCRIPT,
            module,
            json.dumps(WATCHED_EVENTS),
            json.dumps(FORBIDDEN_AT_IMPORT),
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, f"importing {module} failed:\n{completed.stderr}"
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    return ImportAudit(events=report["events"], loaded=report["loaded"])


def test_import_lambda_rlm_does_no_io_and_loads_nothing_heavy(repo_root: Path) -> None:
    audit = audit_import("lambda_rlm", cwd=repo_root)
    assert audit.events == [], "import lambda_rlm must do no I/O:\n" + "\n".join(
        f"  {event}: {args}" for event, args in audit.events
    )
    assert audit.loaded == [], f"import lambda_rlm must not import {audit.loaded}"


# --- the check itself can fail -------------------------------------------------------------

CLEAN_PACKAGE = """
import dataclasses, json, re
PATTERN = re.compile(r"[a-z]+")
@dataclasses.dataclass(frozen=True)
class Node:
    name: str
"""

BAD_PACKAGES = {
    "opens_a_data_file": (
        "open",
        "import os\n"
        "GRAMMAR = open(os.path.join(os.path.dirname(__file__), 'grammar.lark')).read()\n",
    ),
    "reads_a_package_resource": (
        "open",
        "import importlib.resources\n"
        "GRAMMAR = importlib.resources.files(__name__).joinpath('grammar.lark').read_text()\n",
    ),
    "creates_a_cache_dir": (
        "os.mkdir",
        "import os\nos.makedirs(os.path.join(os.path.dirname(__file__), 'cache'))\n",
    ),
    "opens_a_database": (
        "sqlite3.connect",
        "import os, sqlite3\n"
        "DB = sqlite3.connect(os.path.join(os.path.dirname(__file__), 'cache.db'))\n",
    ),
    "resolves_a_host": (
        "socket.getaddrinfo",
        "import socket\nsocket.getaddrinfo('localhost', 80)\n",
    ),
    "starts_a_process": (
        "subprocess.Popen",
        "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'pass'], check=True)\n",
    ),
}


def make_package(root: Path, name: str, source: str) -> None:
    """Write a one-module package `name` (with a grammar.lark beside it) under `root`."""
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(source))
    (package / "grammar.lark").write_text("start: NAME\n%import common.CNAME -> NAME\n")


def test_clean_package_passes_the_audit(tmp_path: Path) -> None:
    make_package(tmp_path, "cleanpkg", CLEAN_PACKAGE)
    audit = audit_import("cleanpkg", cwd=tmp_path, extra_path=[tmp_path])
    assert audit == ImportAudit(events=[], loaded=[])


@pytest.mark.parametrize("name", sorted(BAD_PACKAGES))
def test_audit_catches_io_at_import(tmp_path: Path, name: str) -> None:
    expected_event, source = BAD_PACKAGES[name]
    make_package(tmp_path, name, source)
    audit = audit_import(name, cwd=tmp_path, extra_path=[tmp_path])
    assert expected_event in [event for event, _ in audit.events], audit


def test_audit_catches_a_heavy_import(tmp_path: Path) -> None:
    # A stand-in `llama_cpp` keeps this independent of what is installed.
    (tmp_path / "llama_cpp.py").write_text("LOADED = True\n")
    make_package(tmp_path, "eager", "import llama_cpp\n")
    audit = audit_import("eager", cwd=tmp_path, extra_path=[tmp_path])
    assert audit.loaded == ["llama_cpp"]
    assert audit.events == []
