"""Glow-Aff, flow-based self-supervised density estimation for anomalous sound detection, as an
ordinary asdbench plugin (entry point ``glow_aff``).

Component: method ``glow-aff`` (on backbone ``frames``, scored by scorer ``method``; both from
the DCASE-baselines plugin, used by name through the registry).

Sources (read, not copied) and what each fact rests on:

- Dohi, Endo, Purohit, Tanabe, Kawaguchi, "Flow-based self-supervised density estimation for
  anomalous sound detection", ICASSP 2021, arXiv 2103.08801 (abstract and introduction read,
  in the arXiv text): the sound of one machine ID is the *target* data, the sound of the other
  machines of the same machine type the *outlier* data; the flow is trained to assign higher
  likelihood to the target data and lower likelihood to the outlier data; Glow and MAF flows,
  DCASE 2020 Task 2. Hence one flow per machine ID (``models = "class"``); the OS-SCL paper
  (shared/paper, introduction) says the same: "it requires training a separate model for each
  machine ID". "Glow_Aff" is the paper's Glow with affine coupling (OS-SCL Table II row:
  85.20 / 73.90 average AUC / pAUC; not checked against Dohi et al.'s own table, which could
  not be read). Also read in the arXiv text (v1 abstract and introduction, through a stored
  copy of its LaTeX source, SPIQA ``2103.08801v1.txt``, and arxiv-vanity): the method is
  called self-supervised because discriminating the target ID from the outlier IDs is an
  auxiliary task that improves detection on the target ID; reported gain on DCASE 2020 Task 2
  over "the previous method": +4.6 % average AUC with MAF, +5.8 % with Glow (the per-type
  AUCs were not readable).
- Kingma & Dhariwal, "Glow: Generative flow with invertible 1x1 convolutions", NeurIPS 2018,
  and its official code (openai/glow, ``model.py``), for the flow itself: multi-scale
  architecture of L levels (squeeze 2x2, K steps, split), step = actnorm (data-dependent
  initialisation: zero mean, unit variance per channel on the first batch) -> invertible 1x1
  convolution (random rotation at the start, log-det ``H·W·log|det W|``) -> affine coupling
  (``NN(xa)`` gives shift and ``sigmoid(h + 2)`` scale of ``xb``; NN = conv 3x3, ReLU,
  conv 1x1, ReLU, zero-initialised conv 3x3, hidden width 512); the split-off half scored
  under a Gaussian whose mean and log-scale come from a zero-initialised conv of the other
  half; top latent standard normal.

NOT verified (the sections of Dohi et al. with the experimental setup, the loss equation and
the training settings could not be read here; no authors' code was found): every value below
is an assumption, an option or preset value the user can change. Searched (this session):
stored web pages for the paper's text (only abstract and introduction are stored: arXiv
2103.08801 via SPIQA, arxiv-vanity, deepai, tomesphere), the GitHub code, issue and docs
indexes for "Glow-Aff", "Glow_Aff", "GlowAff", "Flow-based self-supervised density
estimation", "higher likelihood to the target data", Glow/MAF + DCASE 2020 Task 2 (no
implementation of the method found), and the repositories of the authors' accounts in the
index (``Kota-Dohi/*``: DCASE 2022 baselines, LaSTR, DIFFNATOR, TACO; ``y-kawagu/*``: DCASE
2020/2021 baselines and evaluators; by their names none is this paper's code).

- input: segments of ``frames = 32`` consecutive log-Mel frames (128 mel bins: a 128x32
  image for Glow, divisible by 2^L), ``hop = 32`` (non-overlapping); the log-Mel of the DCASE
  2020 baseline (same lab) in the ``authors`` preset;
- architecture: ``levels = 3``, ``steps = 4`` per level, ``hidden = 64`` (149,508 parameters
  per ID, 0.85 GFLOP per 10-s clip): sized for CPU runs and the registry-driven contract
  tests, far smaller than Glow's image models (K = 32, width 512; ``--set method.steps=32
  --set method.hidden=512`` gives that size, 31 M parameters per ID); the coupling networks
  use biases instead of Glow's actnorm inside NN, and their last conv
  starts at N(0, 1e-3) instead of zero (``init_std``; 0 gives Glow's init: with exact zeros
  the inner layers get no gradient on the first step, which the contract kit flags);
- loss: per flow ``mean_t u_t + w · mean_{t,o} max(0, m - (u_o - u_t))`` with ``u`` a clip's
  negative log-likelihood in nats per dimension, targets t and outliers o of the batch,
  ``m = margin = 0.2``, ``w = outlier_weight = 1`` (a bounded margin-ranking form; ``w = 0``
  is the paper's conventional Glow trained on the target ID only);
- score: a clip's negative log-likelihood under its ID's flow, nats per dimension, averaged
  over its segments;
- recipe (``recipe = "authors"``): Adam (AdamW, no weight decay) at lr 1e-3 (Glow's), 100
  epochs, batch 32 clips, constant rate, no EMA, last epoch kept (:mod:`asdbench_glow.recipes`).
"""
