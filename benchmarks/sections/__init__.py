"""One module per section of ``RESULTS.md``, in the order ``benchmarks/run.py`` runs them."""
