"""``asdbench matrix`` (the click code moves here from :mod:`asdbench.matrix`)."""

from asdbench.matrix import matrix_command as command  # noqa: F401
