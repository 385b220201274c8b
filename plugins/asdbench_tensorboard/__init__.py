"""Shipped experiment tracker: TensorBoard event files of each run (entry point
``tensorboard``), off unless ``ASDBENCH_TENSORBOARD`` names a folder."""
