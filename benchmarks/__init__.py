"""Speed and memory measurements of vonedemo; ``benchmarks/run.py`` is the entry point."""
