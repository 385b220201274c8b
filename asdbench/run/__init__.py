"""One run: train a model on a dataset, evaluate it, and keep everything in its run folder.

- ``device``: the device and bf16 autocast of a run,
- ``tensors``: decoded clips as tensors (``Split``) and the one batched-inference loop,
- ``loop``: the training loop (``fit``),
- ``checkpoint``: the resumable training state,
- ``evaluate``: embeddings, scores and their table,
- ``provenance``: versions, machine and git commit recorded with a run,
- ``rundir``: ``RunDir``, every path and file of a run folder,
- ``pipeline``: ``train_and_evaluate``, the job behind ``asdbench run``,
- ``load``: a finished run read back (``LoadedRun``),
- ``evaluations``: several scorers of one trained model, each an evaluation of the run,
- ``reference``: the non-learned reference on a run's clips, and the lift over it,
- ``service``: using a trained run (``asdbench score``, ``asdbench eval``).

This package module imports nothing, so ``from asdbench.run.rundir import RunDir`` stays light
(no torch) for the matrix and the leaderboard.
"""
