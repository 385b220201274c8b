"""The memory-bank scorers (knn-so-ta, knn-smote, knn-rescale, genrep) against direct
numpy / scikit-learn computations of their sources' formulas, on hand-made embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from imblearn.over_sampling import SMOTE
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors

from asdbench.plugins import load_plugins
from asdbench.registry import AsdbenchError
from asdbench.scoring import ScoringInputs


@pytest.fixture(scope="module")
def registry():
    return load_plugins(only={"scorers"}).registry


def _inputs(n: int, classes: int = 2, dim: int = 6, seed: int = 0, every: int = 4,
            shift: float = 0.0) -> ScoringInputs:
    """``n`` clips over ``classes``; every ``every``-th clip is a target one, moved by
    ``shift`` along the last axis (another domain)."""
    rng = np.random.default_rng(seed)
    cls = np.arange(n) % classes
    dom = np.array(["target" if (i // classes) % every == every - 1 else "source"
                    for i in range(n)], dtype=object)
    emb = rng.normal(size=(n, dim)) + 2.0 * np.eye(classes, dim)[cls]
    emb[dom == "target", -1] += shift
    return ScoringInputs(emb, np.zeros((n, classes)), cls, dom)


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _nn_mean(query, bank, k):
    """sklearn's mean distance to the ``k`` nearest rows of ``bank``, as ASDKit computes it."""
    nn = NearestNeighbors(n_neighbors=min(k, len(bank)), metric="euclidean").fit(bank)
    return nn.kneighbors(query)[0].mean(1)


def _select(inputs: ScoringInputs, rows) -> ScoringInputs:
    return ScoringInputs(inputs.embeddings[rows], inputs.logits[rows], inputs.class_index[rows],
                         inputs.domain[rows])


# --- ASDKit's Knn ---------------------------------------------------------------------------


def test_knn_so_ta_is_asdkit_formula_with_its_own_neighbour_counts(registry):
    train, test = _inputs(80, shift=3.0), _inputs(30, seed=1, every=2, shift=3.0)
    scorer = registry.create("scorer", "knn-so-ta", {"n_neighbors_so": 3, "n_neighbors_ta": 1})
    scorer.fit(train)
    got = scorer.score(test)
    want = np.empty(len(test))
    for c in (0, 1):
        mine, rows = train.class_index == c, test.class_index == c
        src = _unit(train.embeddings[mine & (train.domain == "source")])
        tgt = _unit(train.embeddings[mine & (train.domain == "target")])
        q = _unit(test.embeddings[rows])
        want[rows] = np.minimum(_nn_mean(q, src, 3), _nn_mean(q, tgt, 1)) / 2  # cosine: halved
    np.testing.assert_allclose(got, want, atol=1e-9)
    # the split matters: 1 neighbour in both domains is another score
    same = registry.create("scorer", "knn-so-ta", {"n_neighbors_so": 1, "n_neighbors_ta": 1})
    same.fit(train)
    assert not np.allclose(same.score(test), got, atol=1e-4)
    # euclid: the raw embeddings, not halved; n_neighbors_ta = 0: the source bank alone
    eu = registry.create("scorer", "knn-so-ta", {"metric": "euclid", "n_neighbors_ta": 0})
    eu.fit(train)
    for c in (0, 1):
        mine, rows = train.class_index == c, test.class_index == c
        src = train.embeddings[mine & (train.domain == "source")].astype(np.float64)
        np.testing.assert_allclose(eu.score(test)[rows], _nn_mean(test.embeddings[rows], src, 1),
                                   atol=1e-9)


def _one_class(n_source: int, n_target: int, dim: int = 4, seed: int = 3) -> ScoringInputs:
    rng = np.random.default_rng(seed)
    emb = np.concatenate([rng.normal(size=(n_source, dim)),
                          rng.normal(size=(n_target, dim)) + np.eye(dim)[0] * 4])
    dom = np.array(["source"] * n_source + ["target"] * n_target, dtype=object)
    return ScoringInputs(emb, np.zeros((len(emb), 1)), np.zeros(len(emb)), dom)


def test_smote_points_lie_between_real_targets_and_join_the_target_bank(registry):
    train = _one_class(20, 5)
    scorer = registry.create("scorer", "knn-smote", {"metric": "euclid", "smote_ratio": 0.5})
    scorer.fit(train)
    bank = scorer._refs[0].banks[1].points
    real = train.embeddings[20:].astype(np.float64)
    assert len(bank) == 5 + int(20 * 0.5 - 5)  # imbalanced-learn's count: ratio x source - target
    np.testing.assert_allclose(bank[:5], real)
    # imbalanced-learn's own output, same seed and neighbours (ASDKit's call)
    resampled, _ = SMOTE(sampling_strategy=0.5, random_state=0, k_neighbors=2).fit_resample(
        train.embeddings.astype(np.float64), (train.domain == "target").astype(int))
    np.testing.assert_allclose(bank[5:], resampled[25:], atol=1e-12)
    for p in bank[5:]:  # each synthetic point on a segment between two real target clips
        on = []
        for a in range(5):
            for b in range(a + 1, 5):
                step = real[b] - real[a]
                g = (p - real[a]) @ step / (step @ step)
                on.append(0 <= g <= 1 and np.linalg.norm(p - real[a] - g * step) < 1e-9)
        assert any(on)
    test = _one_class(6, 6, seed=4)
    want = np.minimum(_nn_mean(test.embeddings, train.embeddings[:20], 1),
                      _nn_mean(test.embeddings, bank, 1))
    np.testing.assert_allclose(scorer.score(test), want, atol=1e-9)
    # cosine: SMOTE on the unit embeddings, its points scaled to unit length afterwards
    cos = registry.create("scorer", "knn-smote", {"smote_ratio": 0.5})
    cos.fit(train)
    unit = _unit(train.embeddings)
    resampled, _ = SMOTE(sampling_strategy=0.5, random_state=0, k_neighbors=2).fit_resample(
        unit, (train.domain == "target").astype(int))
    np.testing.assert_allclose(cos._refs[0].banks[1].points[5:], _unit(resampled[25:]),
                               atol=1e-12)


def test_smote_held_out_leaves_out_the_clip_and_its_synthetic_points(registry):
    train = _one_class(20, 5)
    scorer = registry.create("scorer", "knn-smote", {"metric": "euclid", "smote_ratio": 0.5})
    scorer.fit(train)
    held = scorer.score_train(train)
    ref = scorer._refs[0]
    bank, ends = ref.banks[1].points, ref.extra["bank_rows"][1][1]
    emb = train.embeddings.astype(np.float64)
    for i in range(25):
        keep_src = [j for j in range(20) if j != i]
        keep_tgt = [j for j in range(5) if j + 20 != i] + [5 + s for s in range(len(ends))
                                                           if i not in ends[s]]
        want = min(_nn_mean(emb[i:i + 1], emb[keep_src], 1)[0],
                   _nn_mean(emb[i:i + 1], bank[keep_tgt], 1)[0])
        assert held[i] == pytest.approx(want, abs=1e-9)
        assert held[i] > 0  # never its own neighbour
    # a ratio that asks for no new point (3 targets, 0.1 x 20 sources) leaves the bank as is
    few = registry.create("scorer", "knn-smote", {"smote_ratio": 0.1})
    few.fit(_one_class(20, 3))
    assert len(few._refs[0].banks[1].points) == 3


# --- ASDKit's KnnRescale --------------------------------------------------------------------


@pytest.mark.parametrize("n_neighbors, k_ref", [(1, 4), (3, 2)])
def test_knn_rescale_is_asdkit_formula(registry, n_neighbors, k_ref):
    train, test = _inputs(60, shift=2.0), _inputs(20, seed=5)
    scorer = registry.create("scorer", "knn-rescale",
                             {"n_neighbors": n_neighbors, "k_ref_normalize": k_ref})
    scorer.fit(train)
    want = np.empty(len(test))
    for c in (0, 1):
        ref = _unit(train.embeddings[train.class_index == c])
        rows = test.class_index == c
        # ASDKit: column-wise sorted reference distances, rows 1..k (row 0: itself)
        const = np.sort(pairwise_distances(ref, ref), axis=0)[1:k_ref + 1].mean(0, keepdims=True)
        ratio = pairwise_distances(_unit(test.embeddings[rows]), ref) / const
        want[rows] = np.sort(ratio, axis=1)[:, :n_neighbors].mean(1)
    np.testing.assert_allclose(scorer.score(test), want, rtol=1e-9, atol=1e-9)


# --- GenRep ---------------------------------------------------------------------------------


def _genrep_direct(train, test, top_k, n_mix, alpha):
    """GenRep's raw source and target distances per test clip (its code's Euclidean kNN,
    MemMixup of each target with its n_mix nearest sources)."""
    d_s, d_t = np.empty(len(test)), np.empty(len(test))
    for c in np.unique(train.class_index):
        mine, rows = train.class_index == c, test.class_index == c
        if not rows.any():
            continue
        src = train.embeddings[mine & (train.domain == "source")].astype(np.float64)
        tgt = train.embeddings[mine & (train.domain == "target")].astype(np.float64)
        mixes = []
        for t in tgt:
            near = np.argsort(np.linalg.norm(src - t, axis=1), kind="stable")[:n_mix]
            mixes += [alpha * t + (1 - alpha) * src[j] for j in near]
        bank = np.concatenate([tgt, np.array(mixes).reshape(-1, src.shape[1])])
        q = test.embeddings[rows].astype(np.float64)
        d_s[rows] = np.sort(pairwise_distances(q, src), axis=1)[:, :top_k].mean(1)
        d_t[rows] = np.sort(pairwise_distances(q, bank), axis=1)[:, :top_k].mean(1)
    return d_s, d_t


def test_genrep_without_normalisation_is_memmixup_knn(registry):
    train, test = _inputs(60, shift=3.0), _inputs(24, seed=6, every=2, shift=3.0)
    scorer = registry.create("scorer", "genrep", {"top_k": 2, "n_mix_support": 3, "alpha": 0.8,
                                                  "domain_norm": False})
    scorer.fit(train)
    d_s, d_t = _genrep_direct(train, test, 2, 3, 0.8)
    np.testing.assert_allclose(scorer.score(test), np.minimum(d_s, d_t), atol=1e-9)
    # MemMixup changes the target bank: without it the score differs
    plain = registry.create("scorer", "genrep", {"top_k": 2, "n_mix_support": 0,
                                                 "domain_norm": False})
    plain.fit(train)
    assert not np.allclose(plain.score(test), scorer.score(test), atol=1e-4)


def test_genrep_domain_normalisation_train_and_test_statistics(registry):
    train, test = _inputs(60, shift=3.0), _inputs(24, seed=6, every=2, shift=3.0)
    opts = {"top_k": 1, "n_mix_support": 4, "alpha": 0.9}
    # the authors' code: each domain's distances standardised over the scored clips
    authors = registry.create("scorer", "genrep", {**opts, "domain_stats": "test"})
    authors.fit(train)
    d_s, d_t = _genrep_direct(train, test, 1, 4, 0.9)
    want = np.empty(len(test))
    for c in (0, 1):
        r = test.class_index == c
        want[r] = np.minimum((d_s[r] - d_s[r].mean()) / d_s[r].std(),
                             (d_t[r] - d_t[r].mean()) / d_t[r].std())
    np.testing.assert_allclose(authors.score(test), want, atol=1e-9)
    # train statistics: each training clip's distances to banks fitted without it
    scorer = registry.create("scorer", "genrep", {**opts, "domain_stats": "train"})
    scorer.fit(train)
    held_s, held_t = np.empty(len(train)), np.empty(len(train))
    for i in range(len(train)):
        rest = _select(train, np.arange(len(train)) != i)
        held_s[i], held_t[i] = (d[0] for d in _genrep_direct(rest, _select(train, [i]), 1, 4, 0.9))
    want = np.empty(len(test))
    for c in (0, 1):
        m, r = train.class_index == c, test.class_index == c
        z_s = (held_s[m] - held_s[m].mean()) / held_s[m].std()
        z_t = (held_t[m] - held_t[m].mean()) / held_t[m].std()
        assert abs(z_s.mean()) < 1e-9 and z_s.std() == pytest.approx(1.0)  # mean 0, std 1
        assert abs(z_t.mean()) < 1e-9 and z_t.std() == pytest.approx(1.0)
        np.testing.assert_allclose(scorer.score_train(train)[m], np.minimum(z_s, z_t), atol=1e-9)
        want[r] = np.minimum((d_s[r] - held_s[m].mean()) / held_s[m].std(),
                             (d_t[r] - held_t[m].mean()) / held_t[m].std())
    np.testing.assert_allclose(scorer.score(test), want, atol=1e-9)
    with pytest.raises(AsdbenchError, match="domain_stats=train"):
        authors.to_torch(torch.nn.Identity(), 2)
    with pytest.raises(AsdbenchError, match="at least two"):
        authors.score(_select(test, [0]))


# --- held-out training scores: a refit without the clip ---------------------------------------


@pytest.mark.parametrize("name, options", [
    ("knn-so-ta", {"n_neighbors_so": 2, "n_neighbors_ta": 1}),
    ("knn-so-ta", {"metric": "euclid", "n_neighbors_so": 1, "n_neighbors_ta": 2}),
    ("knn-rescale", {"n_neighbors": 1, "k_ref_normalize": 4}),
    ("knn-rescale", {"n_neighbors": 2, "k_ref_normalize": 2, "metric": "euclid"}),
    ("genrep", {"top_k": 1, "n_mix_support": 2, "domain_norm": False}),
    ("genrep", {"top_k": 2, "n_mix_support": 990, "domain_norm": False, "metric": "cosine"}),
])
def test_score_train_is_the_score_of_a_scorer_fitted_without_the_clip(registry, name, options):
    train = _inputs(36, every=3, shift=2.0)
    scorer = registry.create("scorer", name, options)
    scorer.fit(train)
    got = scorer.score_train(train)
    for i in range(len(train)):
        alone = registry.create("scorer", name, options)
        alone.fit(_select(train, np.arange(len(train)) != i))
        assert got[i] == pytest.approx(alone.score(_select(train, [i]))[0], abs=1e-9)
    assert (got > 0).all()  # plain score() of a training clip: 0 at its own entry
    assert (scorer.score(train) < got).any()


def test_score_train_refuses_other_inputs(registry):
    train = _inputs(36)
    for name in ("knn-so-ta", "knn-rescale", "genrep"):
        scorer = registry.create("scorer", name)
        scorer.fit(train)
        with pytest.raises(AsdbenchError, match="needs the inputs fit.. was given"):
            scorer.score_train(_inputs(36, seed=9))


# --- export ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name, options", [
    ("knn-so-ta", {"n_neighbors_so": 2}), ("knn-smote", {"smote_ratio": 1.0}),
    ("knn-rescale", {"k_ref_normalize": 3}), ("knn-rescale", {"metric": "euclid"}),
    ("genrep", {"n_mix_support": 3}), ("genrep", {"domain_norm": False, "top_k": 2}),
    ("knn-so-ta", {"normalize": "zscore"}), ("genrep", {"normalize": "quantile"}),
    ("knn", {"k": 2, "normalize": "quantile"}), ("mahalanobis", {"normalize": "zscore"}),
])
def test_to_torch_gives_every_class_column_of_score(registry, name, options):
    train, test = _inputs(60, classes=3, shift=2.0), _inputs(15, classes=3, seed=7)
    scorer = registry.create("scorer", name, options)
    scorer.fit(train)
    module = scorer.to_torch(torch.nn.Identity(), 3).eval()
    with torch.no_grad():
        matrix = module(torch.from_numpy(test.embeddings.astype(np.float32))).numpy()
    for k in range(3):
        as_k = ScoringInputs(test.embeddings, test.logits, np.full(15, k), test.domain)
        np.testing.assert_allclose(matrix[:, k], scorer.score(as_k), rtol=1e-5, atol=1e-5)
    # and traces (what asdbench export does)
    traced = torch.jit.trace(module, torch.from_numpy(test.embeddings[:4].astype(np.float32)))
    with torch.no_grad():
        np.testing.assert_allclose(traced(torch.from_numpy(test.embeddings.astype(np.float32)))
                                   .numpy(), matrix, rtol=1e-6, atol=1e-6)


def test_options_are_checked(registry):
    with pytest.raises(AsdbenchError, match="scorer.n_neighbors_so"):
        registry.create("scorer", "knn-so-ta", {"n_neighbors_so": 0})
    with pytest.raises(AsdbenchError, match="scorer.smote_ratio"):
        registry.create("scorer", "knn-smote", {"smote_ratio": 1.5})
    with pytest.raises(AsdbenchError, match="scorer.metric"):
        registry.create("scorer", "knn-rescale", {"metric": "manhattan"})
    with pytest.raises(AsdbenchError, match="scorer.domain_stats"):
        registry.create("scorer", "genrep", {"domain_stats": "both"})
    with pytest.raises(AsdbenchError, match="scorer.normalize"):
        registry.create("scorer", "knn", {"normalize": "minmax"})
