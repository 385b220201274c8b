"""asdbench plugin: the model zoo of the OS-SCL paper (Huang, Fang, He; ICASSP 2025).

Frontends ``logmel``, ``stgram``, ``tfstgram``, ``tastgram``; backbone ``mobilefacenet``;
methods ``arcface``, ``arcmix``, ``noisy-arcmix``, ``os-scl``, ``supcon``; and the paper's
published numbers. Registered through the ``asdbench`` entry point ``osscl``.
"""
