"""The synthetic machine-sound model both generated datasets draw from.

:mod:`.machine` holds one ID's parameters, :mod:`.signals` the signal building blocks,
:mod:`.faults` what each fault changes, and :mod:`.synth` draws machines and renders clips.
"""
