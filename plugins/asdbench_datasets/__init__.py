"""Provide the shipped datasets: ``synthetic`` (the default), ``dcase2020`` and ``folder``."""
