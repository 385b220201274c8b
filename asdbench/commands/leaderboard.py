"""``asdbench leaderboard`` (the click code moves here from :mod:`asdbench.leaderboard`)."""

from asdbench.leaderboard import leaderboard_command as command  # noqa: F401
