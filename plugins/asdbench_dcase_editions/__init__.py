"""Provide the DCASE Task 2 editions 2021-2025 (datasets, protocols)."""
