"""A quiz round with a whole class: N students vote on the quiz page, the teacher's tally counts.

    python3 scripts/simulate_quiz.py --students 30 --json /tmp/quiz30.json

Every student and the teacher is a session of the real quiz page (``pages/8_Quiz.py``) run by
Streamlit's ``AppTest`` in this process, on the shipped models, with one votes database in a
temporary folder (never the app's own). Students open the page and vote one after another
(``AppTest`` runs one script at a time per process: it cannot show sessions side by side, so
this measures each vote's own cost, not a queue; ``scripts/simulate_class.py`` measures 30
concurrent sessions on the explorer); then the teacher's screen reruns,
as its polling fragment does every 2 s, until its tally shows every vote. Measured: each
student's page load and vote (click to rerun finished), and the teacher's rerun that reads
the tally. A vote reaches the teacher's screen at the latest one polling interval plus one
teacher rerun after it is stored.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not 1 <= args.students <= 100:
        print("error: --students must be 1-100", file=sys.stderr)
        return 2
    os.environ["VONEDEMO_VOTES"] = str(Path(tempfile.mkdtemp()) / "votes.sqlite")
    os.environ.setdefault("VONEDEMO_PRECOMPUTE", "off")  # the explorer's views: not measured here
    os.chdir(ROOT)
    from streamlit.testing.v1 import AppTest

    from ui import quiz
    from ui.quiz import POLL_S  # the teacher's tally fragment reruns this often

    def session(teacher: bool = False) -> AppTest:
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
        if teacher:
            at.query_params["role"] = "teacher"
        at.switch_page("pages/8_Quiz.py")
        at.run()
        return at

    def tally(teacher: AppTest) -> int:
        return int(next(m.value for m in teacher.metric if m.label == "Votes so far"))

    start = time.perf_counter()
    teacher = session(teacher=True)
    first_load = time.perf_counter() - start
    choice = quiz.QUESTIONS[0].choices[0]

    def student(_: int) -> tuple[float, float, bool]:
        t0 = time.perf_counter()
        at = session()
        t1 = time.perf_counter()
        at.button(key=f"quiz_vote_{choice}").click().run()
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, not at.exception

    results = [student(i) for i in range(args.students)]
    votes_done = time.perf_counter()
    reruns = []
    while True:
        t0 = time.perf_counter()
        teacher.run()
        reruns.append(time.perf_counter() - t0)
        if tally(teacher) >= args.students or time.perf_counter() - votes_done > 60:
            break
    loads = [r[0] for r in results]
    clicks = [r[1] for r in results]
    figures = {
        "students": args.students,
        "errors": sum(not r[2] for r in results),
        "tally": tally(teacher),
        "first_page_load_s": first_load,
        "student_page_load_s": {"p50": statistics.median(loads), "p95": percentile(loads, 0.95)},
        "vote_s": {
            "p50": statistics.median(clicks),
            "p95": percentile(clicks, 0.95),
            "max": max(clicks),
        },
        "teacher_rerun_s": statistics.median(reruns),
        "vote_to_tally_s_at_most": POLL_S + max(reruns),
        "round_s": time.perf_counter() - start,
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0 if figures["errors"] == 0 and figures["tally"] == args.students else 1


if __name__ == "__main__":
    sys.exit(main())
