"""Benchmarks: ``python -m bench`` prints one JSON object per line, each with a ``name``.

Each module ``bench/bench_<area>.py`` defines ``run(quick: bool) -> Iterable[dict]``. Speed is measured
here, never asserted in tests. Where a baseline exists (e.g. PostgreSQL COPY), it is measured in the same
run and printed beside the figure.
"""
