"""Shipped anomaly scorers: cross-entropy of the logits (the paper's) and embedding distances."""
