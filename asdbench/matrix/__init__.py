"""Run a grid of configurations (a *matrix*) to completion, resumably and in parallel.

A matrix file (TOML, format documented at the top of ``configs/quick.toml``) names ``axes``
whose cartesian product gives the cells, shared ``settings``, and ``exclude``/``include``
lists of partial combinations. Every cell is one ``asdbench run``; its identity is the
run id (config hash + seed), so a finished cell is never run twice and a matrix can be
killed and restarted at any time.

Modules, in the order a cell meets them:

- ``grid``: read a matrix file, expand it into cells, resolve each cell's run id;
- :mod:`asdbench.claims` (below the matrix, shared with ``asdbench run``): claim files
  (``RESULTS/claims/``) so two matrix processes sharing a results folder never run the same
  cell at once, kept fresh by a heartbeat;
- ``executors``: where a cell's process runs (``Executor``: local subprocesses pinned to a
  GPU, or Ray tasks asking for 1/N of one), all started by one ``spawn_cell``;
- ``gpus``: which GPU a local cell runs on (N cells per GPU, where its memory fits), free
  and per-process GPU memory from nvidia-smi, CUDA MPS detection;
- ``outcome``: what a cell's process reports (its result line) and why it failed;
- ``records``: the matrix's bookkeeping files (failures, status);
- ``runner``: the loop that queues, launches and collects cells;
- ``status``: the dry-run table.

The click command lives in ``asdbench.commands.matrix``.
"""
