"""The benchmarks: per-request tool servers (exec, fork) against no isolation, and chatgate's cost per
chat against the floor, the bare Agents SDK.

Run with `python -m bench` (or `make bench`; `--per-chat` for the comparison with the bare SDK
alone); see `python -m bench --help`. Results print as tables and are written as JSON under
`bench/results/`. `python -m bench.profile` samples the service with py-spy (`bench/PROFILE.md`).
"""
