"""``asdbench export`` (the click code moves here from :mod:`asdbench.export`)."""

from asdbench.export import export_command as command  # noqa: F401
