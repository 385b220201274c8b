"""The AdaCos loss family as asdbench methods: ``adacos``, ``subcluster-adacos``, ``adaproj``.

Each is a head on the backbone's embedding (any shipped frontend/backbone): cosines between the
L2-normalised embedding and class centres (or class subspaces), multiplied by an adaptive
scale ``s`` and trained with (mixup-soft-label) cross-entropy. No margin anywhere.

Facts and their sources (read, not copied; ``losses.py`` holds the maths):

**AdaCos** (X. Zhang et al., "AdaCos: adaptively scaling cosine logits for effectively learning
deep face representations", CVPR 2019; only its abstract could be opened here: the update
below is the one ASDKit implements, TakuyaFujimura/dcase-asd-toolkit
``asdkit/losses/adacos.py``, and agrees with the paper's update as it is commonly cited):

- logits ``s·cos θ_{i,k}``, one centre per class, Xavier/Glorot-uniform initialised;
- initial (fixed) scale ``s = √2·log(C − 1)``;
- dynamic scale, per training batch: ``B_avg = (1/B) Σ_i Σ_{k≠y_i} exp(s_old·cos θ_{i,k})``
  (non-target classes only), ``θ_med`` = median over the batch of the angle to the target
  class, ``s = log B_avg / cos(min(π/4, θ_med))``; the new ``s`` scales this batch's logits;
- the centres are learned in the paper (``trainable = true``); ASDKit defaults to fixed
  random centres and its shipped AdaCos config also fixes the scale (``adaptive = false``).
- With mixup (not in the paper): the target weights are ``y = λ·onehot(y_a) + (1−λ)·onehot(y_b)``;
  "non-target" is ``y < 1`` and the angle of a clip is ``Σ_k y_k θ_k`` (the convention of the
  author of the two losses below). Without mixup this is exactly the paper's formula.

**Sub-cluster AdaCos** (K. Wilkinghoff, IJCNN 2021; the paper's code,
github.com/wilkinghoff/sub-cluster-AdaCos ``subcluster_adacos.py`` and ``main.py``):

- ``n`` centres per class (weights ``[E, C·n]``, Glorot uniform; column ``c·n + k`` is
  sub-cluster ``k`` of class ``c``), cosines to all ``C·n`` centres, scaled by ``s``;
- combination: softmax over all ``C·n`` scaled cosines, then the probabilities of a class's
  sub-clusters are **summed**: ``p_c = Σ_k softmax(s·cos)_{c,k}``; loss = categorical
  cross-entropy of ``p`` against the (mixup) label. Our logits are ``log p_c``;
- initial scale ``√2·log(C·n − 1)``;
- scale update (code): ``M = max(s·cos)``, ``B_avg = mean_i Σ_j exp(s·cos_ij − M)`` over **all**
  ``C·n`` centres (the target ones too; a non-target-only line is commented out),
  ``θ_i = (Σ_j ỹ_ij θ_ij)·nnz(y_i)`` with ``ỹ`` the label repeated over the sub-clusters
  (the *sum* of the angles to the class's ``n`` sub-clusters, times the number of classes in the
  mixed label), ``θ_med`` = median, ``s = (M + log B_avg) / cos(min(π/4, θ_med)) + 1e-7``
  (Keras epsilon). For ``n > 1`` the summed angle is nearly always above π/4, so the update
  is in effect ``s = √2·log B_avg``. The paper's own statement of the update could not be read
  (no accessible full text); this is the code's.
- number of sub-clusters: the paper's code sweeps ``n ∈ {1, 2, 4, …, 64}``; **16** is the value
  of the author's later systems that use the loss (wilkinghoff/icassp2023 ``main.py``, DCASE
  2023/2024 submissions) and of ASDKit's configs (``dis_spec_scac_*.yaml``). Which ``n`` the
  IJCNN paper recommends could not be verified; default 16.
- centres: trainable in the IJCNN code (``trainable=True``); fixed in the author's later code
  and in ASDKit's ``scac_fixed`` config. Default ``trainable = true`` (the paper's code).
- mixup: the author's ``MixupLayer(prob=1)``, ``λ ~ U(0, 1)`` per clip, partner = the batch
  reversed. The engine draws one ``λ ~ Beta(α, α)`` per batch with a random permutation:
  ``mixup_alpha = 1`` gives the same uniform λ, per batch instead of per clip.
- anomaly score of the IJCNN code: per class a GMM with ``n`` full-covariance components on the
  length-normalised train embeddings, means initialised at the learned centres, score
  ``−max_k log N_k(x)`` (and a Gaussian on mean log-Mel for ToyConveyor). Not shipped (a
  scorer sees no centres). The author's later systems score with the minimum cosine distance
  to k-means (16, ``random_state=0``) centres of the class's source train embeddings and to
  every target train embedding, which is the shipped scorer ``kmeans-domain`` (16 clusters):
  the suggested scorer of all three methods here.

**AdaProj** (K. Wilkinghoff, "AdaProj: adaptively scaled angular margin subspace projections
for anomalous sound detection with auxiliary classification tasks", DCASE 2024 workshop,
pp. 186-190; the paper's code, github.com/wilkinghoff/AdaProj ``aml_losses.py``/``main.py``,
and ASDKit's ``asdkit/losses/adaproj.py``, co-authored by Wilkinghoff):

- each class ``c`` has ``d`` basis vectors ``w_{c,1..d}`` (weights ``[E, C·d]`` Glorot
  uniform, each vector L2-normalised, **not** orthonormalised); the projection is
  ``P_c x = Σ_k (x̂·w_ck) w_ck`` and the logit ``s·cos(x̂, P_c x)`` =
  ``s·(x̂·P_c x)/‖P_c x‖``. For an orthonormal basis this is ``s·‖P_c x̂‖``, the norm of the
  projection of the unit embedding (random Glorot vectors in 128+ dimensions are nearly
  orthogonal, and they stay so when fixed);
- loss: softmax cross-entropy of ``s·cos`` against the (mixup) label;
- initial scale: ``√2·log(C·d − 1)`` in the author's code (the layer was derived from the
  sub-cluster one); ASDKit uses ``√2·log(C − 1)``. Default: the author's;
- scale update (author's code and ASDKit): ``M = max(s·cos)``,
  ``B_avg = mean_i [Σ_{k: y_ik<1} exp(s·cos_ik − M) + Σ_{k: y_ik=1} exp(−M)]`` (a full target
  counts as ``e^0 = 1``), ``θ_i = Σ_k y_ik θ_ik``, ``s = (M + log B_avg)/cos(min(π/4, θ_med))
  + 1e-7``;
- subspace dimension: **16** in the paper's code (``n_subclusters = 16``, the name it reuses
  for ``d``); ASDKit's default is 32. The paper's stated value could not be read; default 16;
- bases fixed (``trainable=False``) in the paper's code and in ASDKit: default
  ``trainable = false``;
- score (paper's code): minimum cosine distance to k-means (16) centres of the class's source
  train embeddings and to each target train embedding: the shipped ``kmeans-domain``.
- training (paper's code, DCASE 2023): Keras Adam (lr 1e-3), batch 64, 10 epochs, mixup
  ``prob=1``, 256-d embedding; the ``authors`` recipe holds what the engine can express.

Not reproduced: the authors' networks and features (we run on asdbench's backbones), the
L2 kernel regularisers (1e-5) of their layers, balanced class weights (IJCNN code), per-clip
mixup λ, the IJCNN GMM score, the author's ensembles.
"""
