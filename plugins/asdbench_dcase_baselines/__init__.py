"""The DCASE organisers' autoencoder baseline and IDNN, as an ordinary asdbench plugin
(entry point ``dcase_baselines``).

Components: backbone ``frames`` (the spectrogram frames as they are, flattened), methods
``dcase2020-ae`` and ``idnn`` (frame-level networks whose anomaly score is their own error,
one network per machine type), scorer ``method`` (reads that score).

Sources of the facts (read, not copied):

- DCASE 2020 Task 2 baseline, the organisers' code ``y-kawagu/dcase2020_task2_baseline``
  (Hitachi; HEAD ebfcc2a): ``keras_model.py`` (b576e99, "Make AE deeper"): Dense(128) + BN +
  ReLU four times, Dense(8) + BN + ReLU, Dense(128) + BN + ReLU four times, Dense(640), Keras
  defaults (glorot-uniform kernels, zero biases, BN momentum 0.99, epsilon 1e-3);
  ``baseline.yaml``: n_mels 128, frames 5, n_fft 1024, hop_length 512, power 2.0; fit: Adam,
  mean squared error, 100 epochs, batch 512 (feature vectors), shuffle, validation_split 0.1;
  ``common.py``: librosa melspectrogram, ``20 / power * log10(mel + eps)``, vectors of 5
  consecutive frames concatenated frame after frame (640 values); ``00_train.py``: one model
  per machine type (``model_<type>.hdf5``), saved after the last epoch; ``01_test.py``: score
  of a clip = mean over its vectors of the mean squared error of the vector.
- IDNN: Suefusa et al., "Anomalous sound detection based on interpolation deep neural
  network", ICASSP 2020 (arXiv 2005.09234): frames with the centre one removed in, the centre
  frame out, score = interpolation error. Layer widths 64-32-16 / 32-64 with ReLU as in two
  independent public re-implementations; the paper's own table of settings was not available
  to check, so they are options, and its training recipe is assumed to be the DCASE 2020
  baseline's.
"""
