"""The DCASE organisers' autoencoder baseline and IDNN, as an ordinary asdbench plugin
(entry point ``dcase_baselines``).

Components: backbone ``frames`` (the spectrogram frames as they are, flattened), methods
``dcase2020-ae``, ``dcase-ae`` (the 2021-2025 baselines, recipes ``dcase2021``...``dcase2025``,
``method.score`` = ``mse`` | ``mahalanobis``) and ``idnn`` (frame-level networks whose anomaly
score is their own error, one network per machine type), scorer ``method`` (reads that score).

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
  network", ICASSP 2020 (arXiv 2005.09234; its v1 abstract and introduction read, through a
  stored copy of the LaTeX source, SPIQA ``2005.09234v1.txt``): "multiple frames of a
  spectrogram whose center frame is removed as an input", "an interpolation of the removed
  frame as an output", anomalies detected by "an interpolation error that is the difference
  between the predicted frame and the true frame"; evaluated on "real-life industrial
  machine sounds" (27 % AUC gain over the autoencoder, largest on non-stationary machines).
  Everything else is NOT verified: the paper's setup section (mels, frames, widths, recipe)
  is not in the sources searched (stored web pages: only abstracts and introductions; code,
  issue and docs indexes: "Suefusa", "interpolation deep neural network", "IDNN"; no
  authors' code found). Secondary only: public re-implementations in the code index (their
  repositories not named by the index, and none states the paper's table) use encoder
  Linear+ReLU widths 64-32-16 and decoder 32-64 then the frame, as here; one of them on 64
  mel bins x 4 context frames (256 inputs, 64 outputs), another on the mel count of its
  config. So the 5 frames, the widths and the 128 mels of the ``authors`` preset (the DCASE
  2020 baseline's log-Mel, 46,416 parameters: 512-64-32-16-32-64-128) are assumptions, the
  mel count the least supported one (with 64 mels the same widths give 25,872); the training
  recipe is assumed to be the DCASE 2020 baseline's.
- DCASE 2021 baseline, ``y-kawagu/dcase2021_task2_baseline_ae`` (the organisers', Hitachi;
  HEAD 7d7f5cc; ``nttcslab/dcase2021_task2_baseline_ae`` could not be fetched here):
  ``keras_model.py`` the 2020 network unchanged (Dense 128 x4 / 8 / 128 x4 / 640, BN, ReLU,
  Keras Adam(lr)); ``baseline.yaml``: n_mels 128, n_frames 5, n_hop_frames 1, n_fft 1024,
  hop_length 512, power 2.0; fit: lr 0.001, epochs 100, batch_size 512, shuffle, validation_split
  0.1; max_fpr 0.1, decision_threshold 0.9; ``00_train.py``: one model per machine type over
  all its sections (``section_name="*"``), source and target training clips together, dev mode
  on ``dev_data/<type>/train``, eval mode a second model on ``eval_data/<type>/train``; one gamma
  fit per type on each training file's MSE (``score_distr_<type>.pkl``; recipes ``dcase2021``
  and ``dcase2022`` set ``decision.per = "type"``); ``01_test.py``: score = mean squared
  error over the clip's vectors, files per section and domain; ``common.py``: log floor
  ``20/power*log10(max(mel, eps))``. MSE only: no Mahalanobis score in 2021.
- DCASE 2022 baseline, ``Kota-Dohi/dcase2022_task2_baseline_ae`` (the organisers', HEAD 8ab52e1;
  ``nttcslab/dcase2022_task2_baseline_ae`` could not be fetched here): ``keras_model.py``,
  ``baseline.yaml``, ``00_train.py`` identical in every value above; test files per section
  (``test/``), domain from the name. MSE only.
- DCASE 2023-2025 baseline, ``nttcslab/dcase2023_task2_baseline_ae`` (HEAD 9b64dc4; network,
  yaml and Mahalanobis unchanged since the first upload 725b304, 2023-03): ``networks/
  dcase2023t2_ae/network.py`` ``AENet``: Linear(640,128)+BatchNorm1d(momentum 0.01, eps 1e-3)
  +ReLU x4, Linear(128,8)+BN+ReLU, Linear(8,128)+BN+ReLU, x3 more, Linear(128,640), torch's
  default initialisation, ``cov_source`` / ``cov_target`` (n_mels x n_mels) as non-trainable
  Parameters; ``baseline.yaml``: n_mels 128, frames 5, frame_hop_length 1, n_fft 1024,
  hop_length 512, power 2.0, fmin 0, fmax null, win_length null, batch_size 256, epochs 100,
  lr 0.001, shuffle, validation_split 0.1, ``--score MSE`` (or MAHALA), decision_threshold 0.9;
  ``dcase2023t2_ae.py``: torch Adam, MSE loss, one model per machine type (``--dataset
  DCASE2023T2<type>``), after the last epoch a pass over the training subset for the
  covariances, score MSE = mean squared error of the clip's vectors, MAHALA = the selective
  Mahalanobis score (exactly as computed: :mod:`asdbench_dcase_baselines.mahalanobis`);
  ``datasets/datasets.py``: block_size = n_mels, validation = ``train_test_split`` of the
  vectors (10 %). The 2024 and 2025 updates (563ce99, 04417eb, da65073) add machine types only.

Parameters (all editions): 267,928 trainable (Dense 265,864 + BN gamma/beta 2,064); Keras'
summary 269,992 with the BN moving statistics; AENet's ``parameters()`` 300,696 with its two
128 x 128 covariances. What the engine cannot express: :data:`recipes.NOT_EXPRESSIBLE`.
"""
