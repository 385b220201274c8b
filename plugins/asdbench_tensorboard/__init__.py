"""Log each run to TensorBoard event files when ``ASDBENCH_TENSORBOARD`` names a folder."""
