"""Provide the AdaCos loss family as methods: ``adacos``, ``subcluster-adacos``, ``adaproj``.

Sources of every fact: this folder's NOTES.md."""
