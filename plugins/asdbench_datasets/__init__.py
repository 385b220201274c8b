"""Provide the shipped datasets: ``synthetic`` (the default), ``synthetic-shift``, ``dcase2020``
and ``folder``; both synthetic sets draw from one machine-sound model (:mod:`.sound`)."""
