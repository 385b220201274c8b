"""The datasets shipped with asdbench: ``synthetic`` (default), ``dcase2020`` and ``folder``."""
