"""asdbench plugin: pretrained audio encoders (BEATs, EAT) as frontends, trained frozen, with
LoRA adapters or in full, and a token-pooling backbone; ``asdbench weights`` fetches the
published checkpoints. Registered through the ``asdbench`` entry point ``encoders``; sources
in NOTES.md.
"""
