"""Provide Glow-Aff (``glow-aff``): one normalising flow per machine ID, scored by likelihood.

Sources of every fact: this folder's NOTES.md."""
