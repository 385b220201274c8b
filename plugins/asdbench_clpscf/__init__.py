"""asdbench plugin: CLP-SCF, machine-ID contrastive pre-training followed by self-supervised
machine-ID classification fine-tuning (entry point ``clpscf``), a method with two training
stages (:class:`asdbench.sdk.Stage`) on any frontend and backbone (the authors': STgram and
MobileFaceNet, ``--frontend stgram --backbone mobilefacenet``).

Paper: J. Guan, F. Xiao, Y. Liu, Q. Zhu, W. Wang, "Anomalous sound detection using audio
representation with machine ID based contrastive learning pretraining", ICASSP 2023
(arXiv 2304.03588). Its abstract (read in the arXiv listing and its SPIQA copy): a two-stage
method that pre-trains the audio representation with contrastive learning "for each machine ID
rather than for each audio sample" (positives: clips of the same machine ID, no augmented
views) and then fine-tunes it with a self-supervised machine-ID classifier, on DCASE 2020
Task 2. The paper's method and experiment sections could not be read here (only its
introduction was available), so every number below comes from the authors' code; none was
checked against the paper's text.

Authors' code: ``liuyoude/STgram-MFN-Contrastive`` (Y. Liu is the paper's third author and the
STgram-MFN author), HEAD d1470ca; ``config.yaml`` as of 2b2ff30 (2022-11-28, the last change),
``run.py``, ``trainer.py``, ``simclrv2.py``, ``NT_Xent.py``, ``model.py``:

- input and encoder: STgram-MFN (``model.STgramMFN``: log-Mel and Tgram stacked, MobileFaceNet,
  128-d embedding ``h``); log-Mel by torchaudio ``MelSpectrogram`` with its defaults (reflect
  padding, no filter norm, HTK scale), n_fft = win = 1024, hop 512, 128 mels, power 2, then
  ``AmplitudeToDB``; 41 classes = machine type x ID (dev + additional training IDs);
- stage 1 (``pretrain``, ``CLRTrainer``): ``SimCLRv2``: the encoder, then ``ContrastiveHead``
  of 3 layers ``Linear(128, 128, bias=False) -> BatchNorm1d`` with ReLU after the first two
  (last BN bias zero); loss ``SupconLoss`` (``pretrain_loss: "supcon"``, batches drawn at
  random) on the head's output ``z``: cosine similarities / t, t = 0.1 (``t``); positives: the
  other clips of the anchor's machine ID; the softmax denominator runs over every clip of the
  batch *including the anchor itself*; anchors without a positive are left out of the mean;
  no margin (``supcon_margin: False``), no base-temperature factor; Adam (no weight decay),
  lr 5e-4 (``con_lr``), constant, batch 128 (``con_batch_size``), 101 epochs
  (``con_epochs``), fine-tuning starts from the checkpoint of epoch 100;
- stage 2 (``finetune``, ``ASDTrainer``): ``SimCLRv2_ft``: the pre-trained encoder and the
  *first* layer of the pre-trained head (``Linear + BatchNorm1d``, no ReLU) give ``h'``; ArcFace
  (``ArcMarginProduct``, m = 1.0, s = 30, one centre per class, Xavier-uniform) on ``h'``, CE
  on the machine-ID labels (``contrain: False``: no contrastive term); Adam lr 1e-4
  (``lr``), batch 128, 300 epochs; ``CosineAnnealingLR(T_max = batches per epoch,
  eta_min = 0)`` stepped once per epoch from epoch 20; the rest of the head is not used;
- score (``ASDTrainer.test``): ``-log_softmax`` of the ArcFace logits at the clip's own class,
  computed with the margin on that class (the label is passed at test time); also a GMM on
  L2-normalised ``h'`` (asdbench: a scorer on the embedding, e.g. ``--scorer knn``);
- selection: the fine-tuning epoch with the best test AUC + pAUC, every 2 epochs (uses test
  labels: not copied; the engine selects by validation CE of the final stage).

What the engine's settings cannot express is listed in :mod:`asdbench_clpscf.recipes`.
Published result (OS-SCL paper, Table II, DCASE 2020 dev test, official protocol): 93.75 %
AUC, 88.48 % pAUC; Table IV mAUC 87.62 %.
"""
