"""ui.votes: one vote per session and question, in a SQLite file that outlives the process."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ui.votes import VoteError, VoteStore

ROOT = Path(__file__).resolve().parent.parent
CHOICES = [str(k) for k in range(10)]


def test_one_vote_per_session_and_question(tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    assert store.vote("q1", "alice", "7", CHOICES)
    assert not store.vote("q1", "alice", "3", CHOICES)  # a second vote changes nothing
    assert store.choice_of("q1", "alice") == "7"
    assert store.vote("q2", "alice", "3", CHOICES)  # another question is another vote
    assert store.vote("q1", "bob", "7", CHOICES)
    assert store.tally("q1", CHOICES) == {**dict.fromkeys(CHOICES, 0), "7": 2}
    assert store.choice_of("q1", "carol") is None


def test_votes_survive_a_new_process_on_the_same_file(tmp_path):
    path = tmp_path / "votes.sqlite"
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]); from ui.votes import VoteStore; "
        "s = VoteStore(sys.argv[1]); s.vote('q', 'a', 'yes', ['yes', 'no']); s.reveal('q')"
    )
    subprocess.run([sys.executable, "-c", code, str(path), str(ROOT)], check=True)
    store = VoteStore(path)  # as if the app had restarted
    assert store.tally("q", ["yes", "no"]) == {"yes": 1, "no": 0}
    assert store.is_revealed("q")


def test_database_is_in_wal_mode(tmp_path):
    import sqlite3

    VoteStore(tmp_path / "v.sqlite")
    mode = sqlite3.connect(tmp_path / "v.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_reset_forgets_votes_and_hides_the_answer(tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    store.vote("q", "a", "yes", ["yes", "no"])
    store.reveal("q")
    store.reset("q")
    assert store.tally("q", ["yes", "no"]) == {"yes": 0, "no": 0}
    assert not store.is_revealed("q")
    assert store.vote("q", "a", "no", ["yes", "no"])  # the session may vote again


@pytest.mark.parametrize(
    ("question", "session", "choice"),
    [("q", "a", "maybe"), ("", "a", "yes"), ("q", "x" * 201, "yes"), ("q" * 201, "a", "yes")],
)
def test_bad_votes_are_refused(tmp_path, question, session, choice):
    store = VoteStore(tmp_path / "votes.sqlite")
    with pytest.raises(VoteError):
        store.vote(question, session, choice, ["yes", "no"])
    assert store.tally("q", ["yes", "no"]) == {"yes": 0, "no": 0}


def test_thirty_students_voting_at_once_are_all_counted(tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    threads = [
        threading.Thread(target=store.vote, args=("q", f"s{k}", CHOICES[k % 10], CHOICES))
        for k in range(30)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.tally("q", CHOICES) == dict.fromkeys(CHOICES, 3)


def test_results_csv_has_counts_and_shares(tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    for session, choice in [("a", "yes"), ("b", "yes"), ("c", "no"), ("d", "yes")]:
        store.vote("q", session, choice, ["yes", "no"])
    lines = store.results_csv("q", ["yes", "no"]).splitlines()
    assert lines == ["question,choice,votes,share %", "q,yes,3,75.0", "q,no,1,25.0"]


def test_the_shown_question_is_shared_and_survives_a_new_store(tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    assert store.shown() is None
    store.show("q1")
    store.show("q2")  # the teacher's latest pick replaces the earlier one
    assert VoteStore(tmp_path / "votes.sqlite").shown() == "q2"
    with pytest.raises(VoteError):
        store.show("")
    assert store.shown() == "q2"
