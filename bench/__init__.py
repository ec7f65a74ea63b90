"""Benchmarks: `python -m bench.seed` fills a database, `python -m bench.run` measures it."""
