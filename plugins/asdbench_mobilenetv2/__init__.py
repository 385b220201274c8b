"""Provide backbone ``mobilenetv2`` and method ``softmax``: the paper's "MobileNetV2" row.

Sources of every fact: this folder's NOTES.md."""
