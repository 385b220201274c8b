"""DCASE Task 2 editions 2021-2025 (``dcase2021`` ... ``dcase2025``) and ``synthetic-shift``."""
