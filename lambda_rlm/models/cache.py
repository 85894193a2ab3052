"""On-disk leaf cache: takes request keys and leaf results, gives them back on identical reruns.

One SQLite database (`leaves.sqlite3`) in the cache directory, in WAL mode with a busy timeout
and one transaction per entry, so writes are atomic and two processes may share a directory.
Values are stored as JSON (`values.to_json`), never pickled. Nothing is opened or created until
the first `get` or `put`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tenacity

from lambda_rlm.core.errors import ConfigError
from lambda_rlm.core.paths import default_cache_dir as default_cache_dir

DB_NAME = "leaves.sqlite3"
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leaves (
    key TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    value TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    created REAL NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """One cached leaf: its value as JSON-ready data, the raw reply and what it cost."""

    type: str
    value: Any
    text: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


class LeafCache:
    """A content-addressed store of leaf results keyed by `LeafRequest.key()`."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory else default_cache_dir()
        self._conn: sqlite3.Connection | None = None
        # One connection shared by the threads of one process; SQLite handles the processes.
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.directory / DB_NAME

    def get(self, key: str) -> Entry | None:
        """The entry stored under `key`, or None."""
        with self._lock, self._usable():
            row = (
                self._connect()
                .execute(
                    "SELECT type, value, text, prompt_tokens, completion_tokens, cost_usd "
                    "FROM leaves WHERE key = ?",
                    (key,),
                )
                .fetchone()
            )
        if row is None:
            return None
        type_, value, text, prompt_tokens, completion_tokens, cost_usd = row
        try:
            decoded = json.loads(value)
        except (ValueError, TypeError, RecursionError):  # not JSON text, or nested too deep
            return None  # a damaged row is a miss; the next put replaces it
        return Entry(type_, decoded, text, prompt_tokens, completion_tokens, cost_usd)

    def put(self, key: str, entry: Entry) -> None:
        """Store `entry` under `key` in one transaction (the last writer of a key wins)."""
        row = (
            key,
            entry.type,
            json.dumps(entry.value, ensure_ascii=False, allow_nan=False),
            entry.text,
            entry.prompt_tokens,
            entry.completion_tokens,
            entry.cost_usd,
            time.time(),
        )
        with self._lock, self._usable():
            # In autocommit mode one statement is one transaction: atomic, and a third of the
            # round trips of an explicit BEGIN … COMMIT.
            self._connect().execute("INSERT OR REPLACE INTO leaves VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)

    def __len__(self) -> int:
        with self._lock, self._usable():
            (count,) = self._connect().execute("SELECT COUNT(*) FROM leaves").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextlib.contextmanager
    def _usable(self) -> Iterator[None]:
        """Turn SQLite's errors on an opened cache (a damaged file, another table of the same name)
        into a ConfigError that names the file, not a traceback."""
        try:
            yield
        except sqlite3.Error as err:
            raise ConfigError(
                f"cannot use the leaf cache {self.path}: {err}",
                notes=["it is damaged or not lambda-rlm's: delete it, set LAMBDA_RLM_CACHE_DIR or "
                       "cache_dir to another folder, or turn the cache off"],
            ) from None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._conn = _open(self.path)
            except (OSError, sqlite3.Error) as err:
                raise ConfigError(
                    f"cannot open the leaf cache {self.path}: {err}",
                    notes=[
                        "set LAMBDA_RLM_CACHE_DIR or cache_dir to a writable folder, "
                        "or turn the cache off"
                    ],
                ) from None
        return self._conn


def _is_busy(err: BaseException) -> bool:
    return isinstance(err, sqlite3.OperationalError) and (
        "locked" in str(err) or "busy" in str(err)
    )


def _open(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with the table created.

    Switching to WAL and creating the table take locks that SQLite may refuse at once, without
    calling the busy handler, while another process opens the same new database; the whole
    setup is therefore retried, with jittered backoff, for up to the busy timeout.
    """
    for attempt in tenacity.Retrying(
        retry=tenacity.retry_if_exception(_is_busy),
        stop=tenacity.stop_after_delay(BUSY_TIMEOUT_MS / 1000),
        wait=tenacity.wait_random_exponential(multiplier=0.005, max=0.25),
        reraise=True,
    ):
        with attempt:
            conn = sqlite3.connect(
                path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,  # autocommit: one statement, one transaction
                check_same_thread=False,
            )
            try:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                # WAL + NORMAL survives a killed process; a power cut may drop the last commits.
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute(_SCHEMA)
            except BaseException:
                conn.close()
                raise
    return conn
