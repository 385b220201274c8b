"""Per-class score normalisation (``scorer.normalize``) against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
from asdbench_scorers.normalize import quantile_map, quantile_stats
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from asdbench.config import resolve
from asdbench.plugins import load_plugins
from asdbench.scoring import ScoringInputs


@pytest.fixture(scope="module")
def registry():
    return load_plugins(only={"scorers"}).registry


def _inputs(n: int, seed: int = 0, classes: int = 3) -> ScoringInputs:
    """Classes whose embeddings spread differently (class c scaled by 1 + 3c), so their raw
    distances live on different scales."""
    rng = np.random.default_rng(seed)
    cls = np.arange(n) % classes
    emb = (rng.normal(size=(n, 5)) * (1 + 3 * cls)[:, None]) + 6 * np.eye(classes, 5)[cls]
    dom = np.array(["target" if i % 5 == 4 else "source" for i in range(n)], dtype=object)
    logits = rng.normal(size=(n, classes)) * (1 + cls)[:, None]
    return ScoringInputs(emb, logits, cls, dom)


@pytest.mark.parametrize("name", ["knn", "knn-so-ta", "genrep", "mahalanobis", "ce"])
def test_zscore_is_standardised_by_the_class_held_out_training_scores(registry, name):
    train, test = _inputs(90), _inputs(30, seed=1)
    inner = registry.create("scorer", name)
    inner.fit(train)
    held = (inner.score_train if hasattr(inner, "score_train") else inner.score)(train)
    scorer = registry.create("scorer", name, {"normalize": "zscore"})
    scorer.fit(train)
    norm_train, got, raw = scorer.score_train(train), scorer.score(test), inner.score(test)
    for c in range(3):
        m, r = train.class_index == c, test.class_index == c
        assert norm_train[m].mean() == pytest.approx(0.0, abs=1e-9)  # mean 0, std 1
        assert norm_train[m].std() == pytest.approx(1.0, abs=1e-9)
        np.testing.assert_allclose(got[r], (raw[r] - held[m].mean()) / held[m].std(), atol=1e-9)


def test_quantile_maps_through_the_class_empirical_cdf(registry):
    train, test = _inputs(90), _inputs(60, seed=2)
    inner = registry.create("scorer", "knn-domain")
    inner.fit(train)
    held, raw = inner.score_train(train), inner.score(test)
    scorer = registry.create("scorer", "knn-domain", {"normalize": "quantile"})
    scorer.fit(train)
    norm_train, got = scorer.score_train(train), scorer.score(test)
    for c in range(3):
        m, r = train.class_index == c, test.class_index == c
        n = int(m.sum())
        cdf = (rankdata(held[m]) - 0.5) / n  # tied scores share their mean position
        np.testing.assert_allclose(norm_train[m], cdf, atol=1e-12)
        x, first = np.unique(held[m], return_index=True)
        y = cdf[first]
        slope = (y[-1] - y[0]) / (x[-1] - x[0])
        want = np.interp(raw[r], x, y)
        want = np.where(raw[r] > x[-1], y[-1] + slope * (raw[r] - x[-1]), want)
        want = np.where(raw[r] < x[0], y[0] + slope * (raw[r] - x[0]), want)
        np.testing.assert_allclose(got[r], want, atol=1e-12)
        assert np.isfinite(got[r]).all()


@pytest.mark.parametrize("mode", ["zscore", "quantile"])
def test_normalisation_keeps_each_class_order_and_auc(registry, mode):
    train, test = _inputs(90), _inputs(90, seed=3)
    labels = np.random.default_rng(4).integers(0, 2, len(test))
    raw = registry.create("scorer", "knn")
    raw.fit(train)
    norm = registry.create("scorer", "knn", {"normalize": mode})
    norm.fit(train)
    a, b = raw.score(test), norm.score(test)
    for c in range(3):
        r = test.class_index == c
        assert roc_auc_score(labels[r], a[r]) == roc_auc_score(labels[r], b[r])
        np.testing.assert_array_equal(np.argsort(a[r], kind="stable"),
                                      np.argsort(b[r], kind="stable"))
    # across classes the raw scales differ; the normalised training scores share one scale
    held = norm.score_train(train)
    raw_held = raw.score_train(train)
    spread = [raw_held[train.class_index == c].mean() for c in range(3)]
    assert max(spread) > 2 * min(spread)
    means = [held[train.class_index == c].mean() for c in range(3)]
    assert max(means) - min(means) < 1e-9


def test_quantile_ties_and_a_single_value():
    q = quantile_stats(np.array([1.0, 2.0, 2.0, 3.0]))
    np.testing.assert_allclose(q.x, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(q.y, [0.125, 0.5, 0.875])  # the tied pair shares its positions
    np.testing.assert_allclose(quantile_map(np.array([0.0, 2.5, 5.0]), q),
                               [0.125 - 0.375, 0.6875, 0.875 + 0.75])
    one = quantile_stats(np.array([4.0, 4.0, np.inf]))
    np.testing.assert_allclose(quantile_map(np.array([3.0, 4.0, 6.0]), one), [-0.5, 0.5, 2.5])


def test_normalize_is_in_the_run_id_only_when_set():
    registry = load_plugins().registry
    base = {"method": "arcface", "scorer": "knn"}
    plain = resolve(base, registry)
    assert "scorer.normalize" not in plain  # at its default the option is left out
    same = resolve({**base, "scorer.normalize": "none"}, registry)
    other = resolve({**base, "scorer.normalize": "zscore"}, registry)
    assert plain.run_id == same.run_id != other.run_id
