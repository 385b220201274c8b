"""Provide anomaly scorers (cross-entropy, embedding distances) and the Gaussian reference."""
