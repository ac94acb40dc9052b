"""The isolation benchmark: per-request tool servers (exec, fork) against no isolation at all.

Run with `python -m bench` (or `make bench`); see `python -m bench --help`. Results print as a table
and are written as JSON under `bench/results/`.
"""
