# Shortcuts for the commands in README.md; run `make install` once, then the others.
.PHONY: install test test-fast lint typecheck ci

install:
	python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]"

test:
	.venv/bin/pytest -q

test-fast:
	.venv/bin/pytest -q -m "not slow"

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

typecheck:
	.venv/bin/mypy

ci:
	bash .ci/run
