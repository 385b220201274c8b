"""Provide the OS-SCL paper's models (4 frontends, MobileFaceNet, 5 methods) and its tables."""
