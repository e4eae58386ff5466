"""planfeed's benchmarks: run them with ``.venv/bin/python bench/run.py`` (see README.md)."""
