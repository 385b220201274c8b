"""Provide CLP-SCF (``clp-scf``): ID contrastive pre-training, then ID-classifier fine-tuning.

Sources of every fact: this folder's NOTES.md."""
