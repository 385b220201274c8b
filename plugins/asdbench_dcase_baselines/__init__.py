"""Provide the DCASE organisers' autoencoder baselines (2020-2025), IDNN and backbone ``frames``.

Sources of every fact: this folder's NOTES.md."""
