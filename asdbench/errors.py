"""The error type whose one-line message the command line prints (and exits 1)."""

from __future__ import annotations


class AsdbenchError(Exception):
    """An error with a one-line message meant for the user (the CLI prints it and exits 1)."""
