"""Importing files: a program imports regular files of its own folder (or of folders it is given), and an
error about a file never echoes more than a cut excerpt of it, whatever the file is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lambda_rlm import compile as compile_program
from lambda_rlm.analysis.program import MAX_PROGRAM_BYTES
from lambda_rlm.core.errors import LambdaError, ModuleImportError

MAIN = "def main (doc : Text) : Text = helper doc\n"
HELPER = "def helper (x : Text) : Text = x\n"


def program(folder: Path, target: str, name: str = "main.lam") -> Path:
    path = folder / name
    path.write_text(f'import "{target}"\n{MAIN}')
    return path


def test_a_file_of_the_program_s_folder_is_imported(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "util.lam").write_text(HELPER)
    assert compile_program(program(tmp_path, "lib/util.lam")).type == "Text -> Text"


def test_a_file_outside_the_folder_is_refused_unless_its_folder_is_given(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "util.lam").write_text(HELPER)
    (tmp_path / "app").mkdir()
    main = program(tmp_path / "app", "../shared/util.lam")
    with pytest.raises(ModuleImportError, match="outside the program's folder"):
        compile_program(main)
    assert compile_program(main, import_dirs=[tmp_path / "shared"]).type == "Text -> Text"
    # a link inside the folder to a file outside it is outside too
    (tmp_path / "app" / "link.lam").symlink_to(tmp_path / "shared" / "util.lam")
    with pytest.raises(ModuleImportError, match="outside the program's folder"):
        compile_program(program(tmp_path / "app", "link.lam", "other.lam"))


def test_the_environment_is_never_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LRTEST_API_KEY", "sk-test-very-secret-value")
    with pytest.raises(LambdaError) as err:
        compile_program(program(tmp_path, "/proc/self/environ"))
    assert "sk-test-very-secret-value" not in str(err.value) and "LRTEST" not in str(err.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_or_a_device_is_refused_without_being_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.lam")  # opening it would wait for a writer forever
    with pytest.raises(ModuleImportError, match="not a regular file"):
        compile_program(program(tmp_path, "pipe.lam"))
    with pytest.raises(ModuleImportError, match="not a regular file"):
        compile_program(program(tmp_path, "/dev/zero"), import_dirs=["/dev"])


def test_a_huge_file_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "big.lam").write_bytes(b"-- x\n" * (MAX_PROGRAM_BYTES // 5 + 1))
    with pytest.raises(ModuleImportError, match="too large for a program"):
        compile_program(program(tmp_path, "big.lam"))
    with pytest.raises(ModuleImportError, match="too large for a program"):
        compile_program(tmp_path / "big.lam")


def test_an_error_in_a_long_line_quotes_a_cut_excerpt(tmp_path: Path) -> None:
    (tmp_path / "long.lam").write_text("x" * 200_000 + "\n")
    main = program(tmp_path, "long.lam")
    done = subprocess.run([sys.executable, "-m", "lambda_rlm", "check", str(main)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "syntax error" in done.stderr and len(done.stderr) < 1_000


def test_control_characters_in_an_excerpt_show_as_question_marks() -> None:
    with pytest.raises(LambdaError) as err:
        compile_program("def main (doc : Text) : Text = \x1b[31m doc\n")
    shown = err.value.format()
    assert "\x1b" not in shown and "?[31m" in shown


def test_importing_a_program_gives_its_definitions_but_not_its_main(tmp_path: Path) -> None:
    (tmp_path / "other.lam").write_text(HELPER + "def main (doc : Text) : Int = tokens doc\n")
    compiled = compile_program(program(tmp_path, "other.lam"))
    assert compiled.type == "Text -> Text"  # this file's main, which calls the other file's helper
