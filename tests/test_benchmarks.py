"""benchmarks/run.py: one section runs alone on its smallest setting, in its own processes."""

import pytest

from benchmarks import run


def test_unknown_section_is_refused_with_the_known_ones(capsys):
    with pytest.raises(SystemExit) as info:
        run.main(["--only", "no-such-section"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert all(name in err for name in run.SECTIONS)


@pytest.mark.slow
def test_the_allocator_section_runs_alone(tmp_path):
    # Its timings come from two child processes (`python3 -m benchmarks.sections.allocator`);
    # --allocator default leaves this test process's allocator alone.
    out = tmp_path / "results.md"
    argv = ["--only", "allocator", "--repeats", "1", "--batch", "1", "--allocator", "default"]
    assert run.main([*argv, "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Benchmark results")
    assert "### Allocator" in text
    rows = [line for line in text.splitlines() if line.startswith(("| fast |", "| ref |"))]
    assert len(rows) == 2 and all(line.endswith("x |") for line in rows)
    assert "## What helped" not in text  # the notes come with a full run only
    assert "## 1. VOneBlock" not in text
