"""The class's votes for predict-then-reveal questions, in SQLite (standard library).

One row per vote, keyed by question and browser session: a session votes once per question,
and a vote survives a reload and an app restart. No personal data: a session is a random token
the app makes, a vote is one of a question's choices. WAL mode lets thirty students vote while
the teacher's screen reads the tally. Each call opens its own short connection, so Streamlit's
session threads never share one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS votes (
    question TEXT NOT NULL,
    session TEXT NOT NULL,
    choice TEXT NOT NULL,
    voted_at REAL NOT NULL,
    PRIMARY KEY (question, session)
);
CREATE TABLE IF NOT EXISTS revealed (
    question TEXT PRIMARY KEY,
    revealed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS shown (
    slot INTEGER PRIMARY KEY CHECK (slot = 0),
    question TEXT NOT NULL,
    shown_at REAL NOT NULL
);
"""
MAX_TEXT = 200  # question ids, session tokens and choices are short; refuse anything longer


class VoteError(ValueError):
    """A vote that cannot be taken: an unknown choice, or an over-long or empty field."""


def _checked(value: str, what: str) -> str:
    text = str(value)
    if not text or len(text) > MAX_TEXT:
        raise VoteError(f"{what} must be 1 to {MAX_TEXT} characters, got {len(text)}")
    return text


class VoteStore:
    """Votes in the SQLite file at ``path`` (created with its folder on first use)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:  # one transaction: committed on success, rolled back on an error
                yield db
        finally:
            db.close()

    def vote(self, question: str, session: str, choice: str, choices: Sequence[str]) -> bool:
        """Record ``session``'s ``choice``; False (and nothing changes) if it already voted."""
        if choice not in choices:
            raise VoteError(f"unknown choice {choice!r}; the choices are {', '.join(choices)}")
        row = (_checked(question, "question"), _checked(session, "session"), choice, time.time())
        with self._connect() as db:
            cursor = db.execute("INSERT OR IGNORE INTO votes VALUES (?, ?, ?, ?)", row)
            return cursor.rowcount == 1

    def choice_of(self, question: str, session: str) -> str | None:
        """The choice ``session`` voted for, or None."""
        with self._connect() as db:
            row = db.execute(
                "SELECT choice FROM votes WHERE question = ? AND session = ?", (question, session)
            ).fetchone()
        return row[0] if row else None

    def tally(self, question: str, choices: Sequence[str]) -> dict[str, int]:
        """Votes per choice, in the order of ``choices`` (zeros included)."""
        with self._connect() as db:
            counts = dict(
                db.execute(
                    "SELECT choice, COUNT(*) FROM votes WHERE question = ? GROUP BY choice",
                    (question,),
                ).fetchall()
            )
        return {choice: int(counts.get(choice, 0)) for choice in choices}

    def reveal(self, question: str) -> None:
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO revealed VALUES (?, ?)", (question, time.time()))

    def is_revealed(self, question: str) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT 1 FROM revealed WHERE question = ?", (question,)).fetchone()
        return row is not None

    def show(self, question: str) -> None:
        """Make ``question`` the one every student's screen shows (the teacher's pick)."""
        row = (_checked(question, "question"), time.time())
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO shown VALUES (0, ?, ?)", row)

    def shown(self) -> str | None:
        """The question the teacher last picked, or None before any pick."""
        with self._connect() as db:
            row = db.execute("SELECT question FROM shown WHERE slot = 0").fetchone()
        return row[0] if row else None

    def reset(self, question: str) -> None:
        """Forget the question's votes and hide its answer again."""
        with self._connect() as db:
            db.execute("DELETE FROM votes WHERE question = ?", (question,))
            db.execute("DELETE FROM revealed WHERE question = ?", (question,))

    def results_csv(self, question: str, choices: Sequence[str]) -> str:
        """The tally as CSV (choice, votes, share %), for a download button."""
        tally = self.tally(question, choices)
        total = sum(tally.values())
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["question", "choice", "votes", "share %"])
        for choice, count in tally.items():
            share = round(100 * count / total, 1) if total else 0.0
            writer.writerow([question, choice, count, share])
        return out.getvalue()
