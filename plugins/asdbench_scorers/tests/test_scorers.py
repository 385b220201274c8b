"""The shipped scorers against brute-force references on small synthetic embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from asdbench_scorers.torch_modules import ce_all_classes
from sklearn.cluster import KMeans

from asdbench.plugins import load_plugins
from asdbench.registry import AsdbenchError
from asdbench.scoring import ScoringInputs, cosine_similarity, cross_entropy, knn_cosine_distance
from asdbench.sdk import LOG_MEL, FrontendInfo

NAMES = ["ce", "cosine", "genrep", "kmeans-domain", "knn", "knn-domain", "knn-rescale", "knn-smote",
         "knn-so-ta", "mahalanobis"]


@pytest.fixture(scope="module")
def registry():
    return load_plugins(only={"scorers"}).registry


def _inputs(n: int, classes: int = 3, dim: int = 8, seed: int = 0, domains=("",)):
    rng = np.random.default_rng(seed)
    cls = rng.integers(0, classes, n)
    cls[:classes] = np.arange(classes)  # every class present
    emb = rng.normal(size=(n, dim)) + 3 * np.eye(classes, dim)[cls]
    logits = rng.normal(size=(n, classes)) * 4
    dom = np.array([domains[i % len(domains)] for i in range(n)], dtype=object)
    return ScoringInputs(emb.astype(np.float32), logits.astype(np.float32), cls, dom)


def _cos_dist(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return 1.0 - float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _brute_knn(train: ScoringInputs, test: ScoringInputs, k: int, domain: str | None = None):
    out = []
    for i in range(len(test)):
        c = test.class_index[i]
        dists = sorted(_cos_dist(test.embeddings[i], train.embeddings[j])
                       for j in range(len(train))
                       if train.class_index[j] == c and (domain is None or train.domain[j] == domain))
        out.append(np.mean(dists[:k]))
    return np.array(out)


def test_all_scorers_registered(registry):
    assert registry.names("scorer") == NAMES
    for name in NAMES:
        comp = registry.get("scorer", name)
        assert comp.description and comp.package
        scorer = comp.create()
        train, test = _inputs(40, domains=("source", "target")), _inputs(15, seed=1)
        scorer.fit(train)
        s = scorer.score(test)
        assert s.shape == (15,) and np.isfinite(s).all()


def test_options_are_checked(registry):
    with pytest.raises(AsdbenchError, match="scorer.k"):
        registry.create("scorer", "knn", {"k": 0})
    with pytest.raises(AsdbenchError, match="unknown setting 'scorer.kk'"):
        registry.create("scorer", "knn", {"kk": 2})
    with pytest.raises(AsdbenchError, match="scorer.n_clusters"):
        registry.create("scorer", "kmeans-domain", {"n_clusters": "many"})


def test_ce_equals_torch_cross_entropy(registry):
    test = _inputs(50, classes=5)
    scorer = registry.create("scorer", "ce")
    scorer.fit(_inputs(3))  # a no-op
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(test.logits).double(),
                                                 torch.from_numpy(test.class_index),
                                                 reduction="none").numpy()
    np.testing.assert_allclose(scorer.score(test), expected, rtol=1e-12, atol=1e-12)
    # stable for large logits, where a naive softmax overflows
    big = np.array([[1000.0, 0.0], [0.0, 1000.0]])
    np.testing.assert_allclose(cross_entropy(big, np.array([0, 0])), [0.0, 1000.0], atol=1e-9)


def test_cosine_equals_distance_to_class_mean(registry):
    train, test = _inputs(60), _inputs(20, seed=2)
    scorer = registry.create("scorer", "cosine")
    scorer.fit(train)
    means = {c: train.embeddings[train.class_index == c].astype(np.float64).mean(0)
             for c in range(3)}
    expected = [_cos_dist(e, means[c]) for e, c in zip(test.embeddings, test.class_index, strict=True)]
    np.testing.assert_allclose(scorer.score(test), expected, atol=1e-5)


def test_mahalanobis_equals_direct_computation_and_flags_outliers(registry):
    from sklearn.covariance import LedoitWolf

    train, test = _inputs(90), _inputs(20, seed=4)
    scorer = registry.create("scorer", "mahalanobis")
    scorer.fit(train)
    got = scorer.score(test)
    for i, (e, c) in enumerate(zip(test.embeddings, test.class_index, strict=True)):
        fit = LedoitWolf().fit(train.embeddings[train.class_index == c].astype(np.float64))
        d = e.astype(np.float64) - fit.location_
        assert got[i] == pytest.approx(float(d @ np.linalg.inv(fit.covariance_) @ d), rel=1e-6)
    # a clip moved away from its class scores higher than the same clip in place
    far = ScoringInputs(test.embeddings + 5.0, test.logits, test.class_index, test.domain)
    assert (scorer.score(far) > got).all()


@pytest.mark.parametrize("k", [1, 3])
def test_knn_equals_brute_force(registry, k):
    train, test = _inputs(60), _inputs(25, seed=3)
    scorer = registry.create("scorer", "knn", {"k": k})
    scorer.fit(train)
    np.testing.assert_allclose(scorer.score(test), _brute_knn(train, test, k), atol=1e-5)


def test_knn_domain_is_min_over_domains(registry):
    train = _inputs(80, domains=("source", "source", "source", "target"))
    test = _inputs(30, seed=4, domains=("source", "target"))
    scorer = registry.create("scorer", "knn-domain", {"k": 2})
    scorer.fit(train)
    expected = np.minimum(_brute_knn(train, test, 2, "source"), _brute_knn(train, test, 2, "target"))
    got = scorer.score(test)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # k-NN over both domains pooled is a different score
    assert not np.allclose(got, _brute_knn(train, test, 2), atol=1e-4)
    # without domains it is plain knn
    plain_train = _inputs(60)
    a = registry.create("scorer", "knn-domain", {"k": 2})
    b = registry.create("scorer", "knn", {"k": 2})
    a.fit(plain_train)
    b.fit(plain_train)
    np.testing.assert_allclose(a.score(test), b.score(test), atol=1e-6)


def test_kmeans_domain_matches_direct_computation(registry):
    train = _inputs(90, domains=("source", "source", "target"))
    test = _inputs(20, seed=5)
    scorer = registry.create("scorer", "kmeans-domain", {"n_clusters": 3, "seed": 7})
    scorer.fit(train)
    got = scorer.score(test)
    expected = np.empty(len(test))
    for c in range(3):
        emb = train.embeddings[train.class_index == c].astype(np.float64)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        dom = train.domain[train.class_index == c]
        km = KMeans(n_clusters=3, random_state=7, n_init=1).fit(emb[dom == "source"].astype(np.float32))
        centres = np.concatenate([km.cluster_centers_, emb[dom == "target"]])
        for i in np.flatnonzero(test.class_index == c):
            expected[i] = min(_cos_dist(test.embeddings[i], m) for m in centres)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # a test clip equal to a target train clip scores 0: target embeddings are kept as centres
    j = int(np.flatnonzero(train.domain == "target")[0])
    probe = ScoringInputs(train.embeddings[j:j + 1], train.logits[j:j + 1],
                          train.class_index[j:j + 1])
    assert scorer.score(probe)[0] == pytest.approx(0.0, abs=1e-6)
    # as many clusters as source clips: every source clip is its own centre -> 1-NN over all
    many = registry.create("scorer", "kmeans-domain", {"n_clusters": 1000})
    many.fit(train)
    np.testing.assert_allclose(many.score(test), _brute_knn(train, test, 1), atol=1e-5)


# --- score_train: training clips scored held out, for the decision thresholds -------------

# Class 0: a (0 deg, norm 2), b (53.13 deg: cos(a, b) = 0.6), c (90 deg); cosine distances
# a-b 0.4, b-c 0.2, a-c 1.0. Class 1: e and g point the same way (distance 0, a true
# duplicate), h is 90 deg from both. Class 2: one clip, nothing to leave it out against.
HAND = np.array([[2.0, 0.0], [0.6, 0.8], [0.0, 1.0],
                 [1.0, 0.0], [3.0, 0.0], [0.0, -1.0],
                 [-1.0, 0.0]], dtype=np.float32)
HAND_CLASS = np.array([0, 0, 0, 1, 1, 1, 2])
LOO = {1: [0.4, 0.2, 0.2, 0.0, 0.0, 1.0, 0.0],          # nearest other clip
       2: [0.7, 0.3, 0.6, 0.5, 0.5, 1.0, 0.0],          # mean of the two others
       5: [0.7, 0.3, 0.6, 0.5, 0.5, 1.0, 0.0]}          # k capped at the 2 others


def _hand(domain=None) -> ScoringInputs:
    return ScoringInputs(HAND, np.zeros((7, 3), np.float32), HAND_CLASS, domain)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_knn_scores_each_training_clip_without_itself(registry, k):
    scorer = registry.create("scorer", "knn", {"k": k})
    train = _hand()
    scorer.fit(train)
    np.testing.assert_allclose(scorer.score_train(train), LOO[k], atol=1e-6)
    # what score() gives the same clips: their own distance 0 counted among the k
    in_sample = {1: [0.0] * 7, 2: [0.2, 0.1, 0.1, 0.0, 0.0, 0.5, 0.0],
                 5: [1.4 / 3, 0.6 / 3, 1.2 / 3, 1 / 3, 1 / 3, 2 / 3, 0.0]}[k]
    np.testing.assert_allclose(scorer.score(train), in_sample, atol=1e-6)


def test_knn_domain_and_kmeans_target_clips_leave_themselves_out(registry):
    # knn-domain, k=1: class 0's a, b are source, c the only target clip
    dom = np.array(["source", "source", "target", "", "", "", ""], dtype=object)
    scorer = registry.create("scorer", "knn-domain", {"k": 1})
    scorer.fit(_hand(dom))
    got = scorer.score_train(_hand(dom))
    # a: min(b 0.4, c 1.0); b: min(a 0.4, c 0.2); c: no other target, nearest source b 0.2
    np.testing.assert_allclose(got[:3], [0.4, 0.2, 0.2], atol=1e-6)
    np.testing.assert_allclose(got[3:], LOO[1][3:], atol=1e-6)  # one domain: plain knn
    # kmeans-domain: two source clips and 16 clusters -> the centres are the clips; targets
    # t1 (90 deg) and t2 (143.13 deg): t1-s2 0.2, t1-t2 0.4, t2-s2 1.0, t2-s1 1.8
    emb = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-0.8, 0.6]], np.float32)
    dom = np.array(["source", "source", "target", "target"], dtype=object)
    train = ScoringInputs(emb, np.zeros((4, 1), np.float32), np.zeros(4), dom)
    km = registry.create("scorer", "kmeans-domain", {"n_clusters": 16})
    km.fit(train)
    np.testing.assert_allclose(km.score_train(train), [0.0, 0.0, 0.2, 0.4], atol=1e-6)
    np.testing.assert_allclose(km.score(train), [0.0] * 4, atol=1e-6)


@pytest.mark.parametrize("name, options", [("knn", {"k": 1}), ("knn", {"k": 3}),
                                           ("knn-domain", {"k": 2})])
def test_score_train_is_the_score_of_a_scorer_fitted_without_the_clip(registry, name, options):
    train = _inputs(40, domains=("source", "source", "target"))
    scorer = registry.create("scorer", name, options)
    scorer.fit(train)
    got = scorer.score_train(train)
    for i in range(len(train)):
        rest = np.arange(len(train)) != i
        alone = registry.create("scorer", name, options)
        alone.fit(ScoringInputs(train.embeddings[rest], train.logits[rest],
                                train.class_index[rest], train.domain[rest]))
        one = ScoringInputs(train.embeddings[i:i + 1], train.logits[i:i + 1],
                            train.class_index[i:i + 1], train.domain[i:i + 1])
        assert got[i] == pytest.approx(alone.score(one)[0], abs=1e-6)


def test_score_train_of_a_large_class_in_blocks_and_its_errors(registry):
    rng = np.random.default_rng(9)
    emb = rng.normal(size=(1100, 3)).astype(np.float32)  # more rows than one block (1024)
    train = ScoringInputs(emb, np.zeros((1100, 1), np.float32), np.zeros(1100))
    scorer = registry.create("scorer", "knn")
    with pytest.raises(AsdbenchError, match="score_train.. called before fit"):
        scorer.score_train(train)
    scorer.fit(train)
    u = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    dist = 1.0 - u.astype(np.float64) @ u.T.astype(np.float64)
    np.fill_diagonal(dist, np.inf)
    np.testing.assert_allclose(scorer.score_train(train), dist.min(axis=1), atol=1e-5)
    other = ScoringInputs(emb[::-1].copy(), train.logits, train.class_index)
    with pytest.raises(AsdbenchError, match="needs the inputs fit.. was given"):
        scorer.score_train(other)
    # aggregate references and ce: the training clips scored as any clip
    for name in ("ce", "cosine", "mahalanobis"):
        s = registry.create("scorer", name)
        s.fit(_inputs(60))
        plain = s.score(_inputs(60))
        held = (s.score_train if hasattr(s, "score_train") else s.score)(_inputs(60))
        np.testing.assert_array_equal(held, plain)


def test_scorer_errors(registry):
    train, test = _inputs(30, classes=2), _inputs(30, classes=3)
    scorer = registry.create("scorer", "knn")
    with pytest.raises(AsdbenchError, match="before fit"):
        scorer.score(test)
    scorer.fit(train)
    with pytest.raises(AsdbenchError, match="class 2 has test clips but no training"):
        scorer.score(test)
    with pytest.raises(ValueError, match="logits"):
        ScoringInputs(np.zeros((3, 2)), np.zeros((2, 2)), np.zeros(3))


def test_helpers_chunking_and_similarity():
    rng = np.random.default_rng(6)
    q, r = rng.normal(size=(37, 5)), rng.normal(size=(11, 5))
    np.testing.assert_allclose(knn_cosine_distance(q, r, k=4, chunk=5),
                               knn_cosine_distance(q, r, k=4), atol=1e-6)
    sim = cosine_similarity(q, r)
    assert sim.shape == (37, 11)
    assert sim[3, 7] == pytest.approx(1 - _cos_dist(q[3], r[7]), abs=1e-6)
    # k larger than the reference set averages over all of it
    np.testing.assert_allclose(knn_cosine_distance(q, r[:2], k=9),
                               (1 - cosine_similarity(q, r[:2])).mean(1), atol=1e-6)


# --- to_torch: the scorers as exported torch modules -------------------------------------------


def _method(margin: float, eval_margin: bool, num_classes: int = 5, dim: int = 8):
    return load_plugins(only={"osscl"}).registry.create(
        "method", "os-scl", {"margin": margin, "eval_margin": eval_margin},
        num_classes=num_classes, embedding_dim=dim,
        frontend_info=FrontendInfo((1, 128, 32), frozenset({LOG_MEL})))


@pytest.mark.parametrize("eval_margin", [True, False])
def test_ce_all_classes_equals_the_ce_scorer_column_by_column(eval_margin):
    torch.manual_seed(0)
    method = _method(0.7, eval_margin).eval()
    e = torch.nn.functional.normalize(torch.randn(6, 8), dim=1)
    with torch.no_grad():
        got = ce_all_classes(method, e, 5).numpy()
        for k in range(5):
            labels = torch.full((6,), k)
            want = cross_entropy(method.logits(e, labels).numpy(), labels.numpy())
            np.testing.assert_allclose(got[:, k], want, rtol=0, atol=1e-4)
    if eval_margin:  # the margin on the scored class makes its CE larger than without it
        plain = _method(0.7, False).eval()
        plain.load_state_dict(method.state_dict())
        with torch.no_grad():
            assert (got > ce_all_classes(plain, e, 5).numpy()).all()


@pytest.mark.parametrize("name, options", [
    ("ce", {}), ("cosine", {}), ("knn", {"k": 1}), ("knn", {"k": 3}), ("knn-domain", {"k": 2}),
    ("mahalanobis", {}), ("kmeans-domain", {"n_clusters": 3}),
])
def test_to_torch_gives_every_class_column_of_score(registry, name, options):
    """Column k of the exported module = ``score`` of the clip as a clip of class k."""
    torch.manual_seed(0)
    head = _method(0.7, True, num_classes=3).eval()
    train = _inputs(60, domains=("source", "target", "source"))
    test = _inputs(12, seed=3)
    if name == "ce":  # the run's logits come from the same head
        with torch.no_grad():
            emb = torch.from_numpy(test.embeddings)
            test.logits = head.logits(emb, torch.from_numpy(test.class_index)).numpy()
    scorer = registry.create("scorer", name, options)
    scorer.fit(train)
    module = scorer.to_torch(head, 3).eval()
    with torch.no_grad():
        matrix = module(torch.from_numpy(test.embeddings)).numpy()
    assert matrix.shape == (12, 3)
    own = matrix[np.arange(12), test.class_index]
    np.testing.assert_allclose(own, scorer.score(test), rtol=1e-5, atol=1e-5)
    for k in range(3):  # and every other column is the score under another class
        as_k = ScoringInputs(test.embeddings, test.logits, np.full(12, k), test.domain)
        if name == "ce":
            with torch.no_grad():
                as_k.logits = head.logits(torch.from_numpy(test.embeddings),
                                          torch.full((12,), k)).numpy()
        np.testing.assert_allclose(matrix[:, k], scorer.score(as_k), rtol=1e-5, atol=1e-5)


def test_to_torch_needs_a_fitted_scorer_with_every_class(registry):
    knn = registry.create("scorer", "knn")
    with pytest.raises(AsdbenchError, match="to_torch\\(\\) called before fit"):
        knn.to_torch(torch.nn.Module(), 3)
    knn.fit(_inputs(30, classes=2))
    with pytest.raises(AsdbenchError, match="class 2 has no training embeddings"):
        knn.to_torch(torch.nn.Module(), 3)
