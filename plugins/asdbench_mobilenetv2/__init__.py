"""MobileNetV2 and the softmax machine-ID classifier, as an ordinary asdbench plugin (entry
point ``mobilenetv2``): the "MobileNetV2" row of the OS-SCL paper's Table II (Giri et al.).

Components: backbone ``mobilenetv2``, method ``softmax`` (linear layer + softmax
cross-entropy over the run's classes; the anomaly score is the engine's ``ce`` scorer,
``-log p`` of the clip's own class), and the method's ``recipe = "authors"`` preset.

Sources of the facts (read, not copied):

- MobileNetV2: Sandler, Howard, Zhu, Zhmoginov, Chen, "MobileNetV2: Inverted Residuals and
  Linear Bottlenecks", CVPR 2018 (arXiv 1801.04381), Table 2 and sections 3-4: stem conv
  3x3/32/stride 2; blocks (t, c, n, s) = (1,16,1,1), (6,24,2,2), (6,32,3,2), (6,64,4,2),
  (6,96,3,1), (6,160,3,2), (6,320,1,1); conv 1x1 to 1280; average pooling; ReLU6; BN after
  every conv; no activation after the projection (linear bottleneck); residual when the stride
  is 1 and the channels match; the width multiplier scales every layer but the last one when
  it is below 1. Rounding of the scaled channels to multiples of 8: the reference
  implementations (TF-slim, torchvision, keras.applications ``_make_divisible``; not re-read,
  only width 1.0, where it rounds nothing, is checked against a published count). The paper itself was not re-read in this session: the table is the
  well-known one, and what confirms it here is torchvision's documented source (hidden =
  inp * t, ReLU6, the residual rule; read) and its docs' 3,504,872 parameters for width 1.0,
  3 input channels, 1000 classes (a test checks this plugin's count against it).
- The DCASE 2021 Task 2 organisers' MobileNetV2 baseline, ``y-kawagu/dcase2021_task2_
  baseline_mobile_net_v2`` (HEAD e2bb4f7): ``keras_model.py``:
  ``keras.applications.MobileNetV2(input_shape=(n_frames, n_mels, 3), alpha=0.5,
  weights=None, classes=n_sections)`` on a 1-channel input concatenated 3 times, Adam,
  ``categorical_crossentropy`` (plain softmax cross-entropy: no margin); ``baseline.yaml``:
  n_mels 128, n_frames 64, n_hop_frames 8, n_fft 1024, hop_length 512, power 2.0, lr 1e-5,
  20 epochs, batch 32, validation_split 0.1; ``00_train.py``: one model per machine type
  classifying its sections, training windows = every 8th 64-frame window of each clip;
  ``01_test.py``: every window of a test clip, score = mean over windows of
  ``log(max(1 - p, eps) - log(max(p, eps)))``, p the softmax output of the clip's section;
  ``common.py``: librosa melspectrogram, ``20 / power * log10(max(mel, eps))``.
  This plugin follows it for width (0.5), the 3-channel copy, the loss and the recipe; it
  does not cut clips into 64-frame windows (see :data:`asdbench_mobilenetv2.recipes.
  NOT_EXPRESSIBLE`): the backbone sees the whole clip, as the engine's other classifiers do.
- Giri, Tenneti, Cheng, Helwani, Isik, Krishnaswamy, "Self-supervised classification for
  detecting anomalous sounds", DCASE 2020 Workshop, pp. 46-50 (the OS-SCL paper's reference
  [4]; its Table II row "MobileNetV2": average AUC 84.34 %, pAUC 77.74 %). NOT VERIFIED HERE:
  the paper could not be found in the sources available while writing this plugin, so its
  loss, input size, augmentation, score and recipe are not taken from it; the OS-SCL paper
  and REFERENCE.md state only "machine-ID classification on log-Mel with MobileNetV2, score
  from the classifier". No parameter count of Giri's model was available to check.
  Secondary, read: Dohi et al. (ICASSP 2021, arXiv 2103.08801 v1 introduction, which cites
  Giri et al. as its reference [8]) describe the approach as an auxiliary task of
  "a classifier that predicts a machine ID assigned to each machine", a sound whose machine
  ID is misclassified being regarded as anomalous, which "improves the detection performance
  on average" but "shows significantly low scores on some machines"; the OS-SCL paper
  (introduction) likewise reports "significant variability in detection performance across
  different IDs of the same machine type". Both fit this plugin's softmax ID classifier and
  its ``ce`` score; neither gives Giri's input, width or recipe. Searched (this session):
  stored web pages (the DCASE 2020 workshop paper and the Giri_AMZ technical report are not
  stored; only other DCASE 2020 reports and the challenge description paper's abstract),
  the GitHub code, issue and docs indexes ("Giri", "Self-supervised classification for
  detecting anomalous sounds", "group masked autoencoder": only citations and a note on
  Group MADE), and the organisers' 2021 MobileNetV2 baseline README (``y-kawagu/dcase2021_
  task2_baseline_mobile_net_v2`` at e2bb4f7: it cites no Giri paper, so it is not evidence of
  Giri's settings).

Choices of this plugin where the sources leave it open: the input map ``[C, F, T]`` keeps
frequency as height and frames as width (the organisers' Keras input is frames x mels; a
transpose, the same network); symmetric 'same' padding (Keras pads stride-2 convs
asymmetrically); torch BatchNorm defaults (Keras: epsilon 1e-3, momentum 0.999); He fan-out
init for convs and N(0, 0.01) for the classifier (torchvision's; Keras: glorot uniform).
"""
