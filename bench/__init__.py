"""Benchmarks of asdbench: training throughput, data cache, inference latency, memory.

Each is a module run from the repository root, ``python -m bench.<name> [--quick]``, that prints
a table and writes ``asdbench-results/bench/<name>.json`` (machine, load, peak FLOP rate,
results; ``--out results/bench`` publishes it beside the committed records).
``results/BENCHMARKS.md`` collects the figures and says what limits each.
"""
