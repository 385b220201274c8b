"""Domain-aware memory-bank scorers: ASDKit's kNN with source and target neighbour counts (and
SMOTE), ASDKit's rescaled kNN, GenRep's MemMixup with domain normalisation.

Each scorer fits one memory bank (or one per domain) per class, i.e. per (type, section), and
scores a clip by its Euclidean distance to the nearest entries; ``metric = "cosine"`` first
scales every embedding to unit length. The formulas and their sources are in NOTES.md.

``score_train`` scores every training clip with the clip, and every entry made from it (a
SMOTE or MemMixup point), out of the banks: never its own neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from asdbench.sdk import AsdbenchError, choice_option, float_option, int_option
from asdbench_scorers.normalize import normalized
from asdbench_scorers.scorers import TARGET, _PerClassScorer

if TYPE_CHECKING:
    from torch import nn

COSINE, EUCLID = "cosine", "euclid"
# Scale of a reference with no spread (exact duplicates): keeps the rescaled distance finite.
TINY = 1e-12
BLOCK = 1024  # query rows per distance block


def prepare(emb: np.ndarray, metric: str) -> np.ndarray:
    """Embeddings as float64, each scaled to unit length for ``cosine``."""
    x = np.asarray(emb, dtype=np.float64)
    if metric == COSINE:
        x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), TINY)
    return x


def euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance matrix ``[len(a), len(b)]`` in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(sq, 0.0))


def nearest_mean(dist: np.ndarray, k: int, excluded: np.ndarray | None = None) -> np.ndarray:
    """Mean of the ``k`` smallest entries of each row of ``dist`` that are not ``excluded``,
    ``k`` capped at the entries left; inf where none is left."""
    d = np.array(dist, dtype=np.float64)
    out = np.full(len(d), np.inf)
    if d.ndim != 2 or d.shape[1] == 0 or not len(d):
        return out
    if excluded is not None:
        d[excluded] = np.inf
    left = np.minimum(int(k), np.isfinite(d).sum(axis=1))
    top = min(int(k), d.shape[1])
    part = np.sort(np.partition(d, top - 1, axis=1)[:, :top], axis=1)
    csum = np.cumsum(np.where(np.isfinite(part), part, 0.0), axis=1)
    ok = left > 0
    out[ok] = csum[ok, left[ok] - 1] / left[ok]
    return out


@dataclass
class Bank:
    """One memory bank: ``x`` scores ``weight * mean_k(d(x, points_j) / scale_j) + offset``."""

    points: np.ndarray
    k: int
    scale: np.ndarray | None = None
    weight: float = 1.0
    offset: float = 0.0

    def distances(self, x: np.ndarray) -> np.ndarray:
        d = euclidean(x, self.points)
        return d if self.scale is None else d / self.scale

    def raw(self, x: np.ndarray, excluded: np.ndarray | None = None) -> np.ndarray:
        """``mean_k`` alone (no weight, no offset), in blocks of rows unless ``excluded``."""
        if excluded is not None:
            return nearest_mean(self.distances(x), self.k, excluded)
        out = np.empty(len(x))
        for start in range(0, len(x), BLOCK):
            rows = slice(start, start + BLOCK)
            out[rows] = nearest_mean(self.distances(x[rows]), self.k)
        return out

    def score(self, x: np.ndarray, excluded: np.ndarray | None = None) -> np.ndarray:
        return self.weight * self.raw(x, excluded) + self.offset


@dataclass
class Fitted:
    """What a bank scorer keeps of one class: its training rows (prepared) and its banks."""

    train: np.ndarray
    banks: list[Bank]
    extra: dict[str, Any] = field(default_factory=dict)


class _BankScorer(_PerClassScorer):
    """A per-class scorer whose reference is a :class:`Fitted`: the minimum over its banks."""

    metric = COSINE

    def _distance(self, ref: Fitted, emb: np.ndarray) -> np.ndarray:
        x = prepare(emb, self.metric)
        return np.min([b.score(x) for b in ref.banks], axis=0)

    def _check(self, ref: Fitted, emb: np.ndarray) -> np.ndarray:
        """``emb`` prepared, checked to be the class's training clips ``fit`` was given."""
        x = prepare(emb, self.metric)
        if x.shape != ref.train.shape or not np.allclose(x, ref.train, atol=1e-6):
            raise AsdbenchError("score_train() needs the inputs fit() was given")
        return x

    def to_torch(self, head: nn.Module, num_classes: int) -> nn.Module:
        """Per class, the minimum over its banks (:class:`MemoryBanks`)."""
        from asdbench_scorers.torch_modules import MemoryBanks

        refs = self._references(num_classes)
        return MemoryBanks([[(b.points, b.k, b.scale, b.weight, b.offset) for b in r.banks]
                            for r in refs], cosine=self.metric == COSINE)


# --- ASDKit's Knn: source and target banks, own neighbour counts, optional SMOTE -------------


def segment_ends(points: np.ndarray, real: np.ndarray) -> np.ndarray:
    """For each of ``points``, the two rows of ``real`` (indices, ``[len(points), 2]``) whose
    segment it lies nearest to (a SMOTE point lies on one)."""
    out = np.zeros((len(points), 2), dtype=np.int64)
    best = np.full(len(points), np.inf)
    for a in range(len(real)):
        for b in range(a + 1, len(real)):
            step = real[b] - real[a]
            g = np.clip((points - real[a]) @ step / max(float(step @ step), TINY), 0.0, 1.0)
            resid = np.linalg.norm(points - real[a] - g[:, None] * step, axis=1)
            closer = resid < best
            best[closer] = resid[closer]
            out[closer] = (a, b)
    return out


def smote_targets(x: np.ndarray, is_target: np.ndarray, ratio: float,
                  neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic target rows SMOTE adds to ``x`` (imbalanced-learn, ``sampling_strategy =
    ratio``, ``random_state = 0`` as ASDKit), and for each the two real target rows of ``x``
    it was interpolated between. None when the ratio asks for no new row, or under 2 targets."""
    n_target = int(is_target.sum())
    n_source = len(x) - n_target
    none = np.zeros((0, x.shape[1])), np.zeros((0, 2), dtype=np.int64)
    if ratio <= 0 or n_target < 2 or n_source <= n_target or int(n_source * ratio - n_target) <= 0:
        return none
    from imblearn.over_sampling import SMOTE

    smote = SMOTE(sampling_strategy=ratio, random_state=0,
                  k_neighbors=min(int(neighbors), n_target - 1))
    resampled, _ = smote.fit_resample(x, is_target.astype(np.int64))
    new = np.asarray(resampled[len(x):], dtype=np.float64)
    rows = np.flatnonzero(is_target)
    return new, rows[segment_ends(new, x[rows])]


class KnnSoTaScorer(_BankScorer):
    """ASDKit's ``Knn``: the mean distance to the ``n_neighbors_so`` nearest source and the
    ``n_neighbors_ta`` nearest target train embeddings of the class; the smaller wins, halved
    for ``cosine``. ``smote_ratio > 0`` first oversamples the target embeddings (SMOTE)."""

    name = "knn-so-ta"

    def __init__(self, n_neighbors_so: int = 1, n_neighbors_ta: int = 1, metric: str = COSINE,
                 smote_ratio: float = 0.0, smote_neighbors: int = 2) -> None:
        super().__init__()
        self.n_neighbors_so, self.n_neighbors_ta = n_neighbors_so, n_neighbors_ta
        self.metric = metric
        self.smote_ratio, self.smote_neighbors = smote_ratio, smote_neighbors

    def _reference(self, emb, domain):
        x = prepare(emb, self.metric)
        is_target = np.asarray(domain == TARGET, dtype=bool)
        weight = 0.5 if self.metric == COSINE else 1.0
        banks, extra = [], {"bank_rows": []}
        if (~is_target).any():
            banks.append(Bank(x[~is_target], self.n_neighbors_so, weight=weight))
            extra["bank_rows"].append((np.flatnonzero(~is_target), np.zeros((0, 2), np.int64)))
        if is_target.any() and self.n_neighbors_ta > 0:
            new, ends = smote_targets(x, is_target, self.smote_ratio, self.smote_neighbors)
            new = prepare(new, self.metric)
            banks.append(Bank(np.concatenate([x[is_target], new]), self.n_neighbors_ta,
                              weight=weight))
            extra["bank_rows"].append((np.flatnonzero(is_target), ends))
        return Fitted(x, banks, extra)

    def _held_out(self, ref, emb, domain):
        x = self._check(ref, emb)
        clips = np.arange(len(x))[:, None]
        scores = []
        for bank, (rows, ends) in zip(ref.banks, ref.extra["bank_rows"], strict=True):
            # a clip leaves out its own row and every synthetic row it is an end of
            excluded = np.concatenate([clips == rows[None, :], (clips == ends[:, 0][None, :])
                                       | (clips == ends[:, 1][None, :])], axis=1)
            scores.append(bank.score(x, excluded))
        return np.min(scores, axis=0)


# --- ASDKit's KnnRescale (Wilkinghoff et al., ICASSP 2025) ------------------------------------


def reference_scales(d: np.ndarray, k_ref: int) -> np.ndarray:
    """Each reference's mean distance to its ``k_ref`` nearest other references (``d``: the
    references' distance matrix, own distance inf); 1 with no other reference."""
    m = min(int(k_ref), d.shape[0] - 1)
    if m < 1:
        return np.ones(d.shape[0])
    return np.maximum(np.sort(np.partition(d, m - 1, axis=1)[:, :m], axis=1).mean(axis=1), TINY)


class KnnRescaleScorer(_BankScorer):
    """ASDKit's ``KnnRescale``: the mean of the ``n_neighbors`` smallest ``d(x, r_j) / c_j``
    over the class's train embeddings ``r_j`` (both domains), ``c_j`` the mean distance of
    ``r_j`` to its ``k_ref_normalize`` nearest other train embeddings."""

    name = "knn-rescale"

    def __init__(self, n_neighbors: int = 1, k_ref_normalize: int = 4,
                 metric: str = COSINE) -> None:
        super().__init__()
        self.n_neighbors, self.k_ref_normalize, self.metric = n_neighbors, k_ref_normalize, metric

    def _reference(self, emb, domain):
        x = prepare(emb, self.metric)
        d = euclidean(x, x)
        np.fill_diagonal(d, np.inf)
        return Fitted(x, [Bank(x, self.n_neighbors, reference_scales(d, self.k_ref_normalize))])

    def _held_out(self, ref, emb, domain):
        """Clip ``i`` out: the other references' scales are recomputed without it too."""
        x = self._check(ref, emb)
        n = len(x)
        d = euclidean(x, x)
        np.fill_diagonal(d, np.inf)
        m = min(self.k_ref_normalize, n - 2)  # neighbours of a reference once i is out
        if m < 1:
            scale = np.ones((n, n))
        else:
            order = np.argsort(d, axis=1, kind="stable")
            ranked = np.take_along_axis(d, order, axis=1)
            rank = np.empty_like(order)
            np.put_along_axis(rank, order, np.arange(n)[None, :].repeat(n, 0), axis=1)
            top, top_next = ranked[:, :m].sum(1), ranked[:, :m + 1].sum(1)
            # scale[i, j]: c_j with clip i out; i among j's m nearest -> the next one replaces it
            inside = rank.T < m
            with np.errstate(invalid="ignore"):
                scale = np.where(inside, (top_next[None, :] - d.T) / m, top[None, :] / m)
            scale = np.maximum(scale, TINY)
        with np.errstate(invalid="ignore"):
            ratio = d / scale
        np.fill_diagonal(ratio, np.inf)
        return nearest_mean(ratio, self.n_neighbors)


# --- GenRep: MemMixup target bank, domain normalisation ---------------------------------------


class GenRepScorer(_BankScorer):
    """GenRep: ``min(z_s, z_t)``, ``z_d = (mean_k d(x, bank_d) - mu_d) / sd_d`` per domain.

    The target bank holds the target train embeddings and, for each, ``alpha t + (1 - alpha)
    s`` with its ``n_mix_support`` nearest source embeddings ``s`` (MemMixup). ``mu_d``,
    ``sd_d``: the mean and std of the domain's distances over the class's training clips held
    out (``domain_stats = "train"``) or over the scored clips (``"test"``, the authors' code).
    """

    name = "genrep"

    def __init__(self, top_k: int = 1, n_mix_support: int = 990, alpha: float = 0.9,
                 domain_norm: bool = True, domain_stats: str = "train",
                 metric: str = EUCLID) -> None:
        super().__init__()
        self.top_k, self.n_mix_support, self.alpha = top_k, n_mix_support, alpha
        self.domain_norm, self.domain_stats, self.metric = domain_norm, domain_stats, metric

    def _mix(self, target: np.ndarray, support: np.ndarray) -> np.ndarray:
        return prepare(self.alpha * target + (1.0 - self.alpha) * support, self.metric)

    def _reference(self, emb, domain):
        x = prepare(emb, self.metric)
        is_target = np.asarray(domain == TARGET, dtype=bool)
        source, target = x[~is_target], x[is_target]
        n_mix = min(self.n_mix_support, len(source)) if len(target) else 0
        order = np.zeros((len(target), 0), dtype=np.int64)
        if n_mix:
            order = np.argsort(euclidean(target, source), axis=1, kind="stable")
        mixed = self._mix(target[:, None, :], source[order[:, :n_mix]]).reshape(-1, x.shape[1])
        banks = []
        if len(source):
            banks.append(Bank(source, self.top_k))
        if len(target):
            banks.append(Bank(np.concatenate([target, mixed]), self.top_k))
        ref = Fitted(x, banks, {"is_target": is_target, "order": order, "n_mix": n_mix,
                                "source": source, "target": target})
        held = self._held_distances(ref, x)
        ref.extra["held"] = held
        for bank, dist in zip(banks, held, strict=True):
            mu, sd = _stats(dist)
            bank.weight, bank.offset = ((1.0 / sd, -mu / sd) if self.domain_norm else (1.0, 0.0))
        return ref

    def _held_distances(self, ref: Fitted, x: np.ndarray) -> list[np.ndarray]:
        """Each training clip's ``mean_k`` distance to each bank built without it."""
        is_target, order, n_mix = ref.extra["is_target"], ref.extra["order"], ref.extra["n_mix"]
        source, target = ref.extra["source"], ref.extra["target"]
        n, n_t = len(x), len(target)
        src_id = np.full(n, -1)
        src_id[~is_target] = np.arange(len(source))
        tgt_id = np.full(n, -1)
        tgt_id[is_target] = np.arange(n_t)
        out = []
        if len(source):
            out.append(ref.banks[0].raw(x, src_id[:, None] == np.arange(len(source))[None, :]))
        if n_t:
            bank = ref.banks[-1]
            base = np.concatenate([np.arange(n_t), np.repeat(np.arange(n_t), n_mix)])
            support = np.concatenate([np.full(n_t, -1), order[:, :n_mix].ravel()])
            # a target clip: out go its own row and its mixes; a source clip: its mixes
            excluded = (tgt_id[:, None] == base[None, :]) & (tgt_id[:, None] >= 0)
            excluded |= (src_id[:, None] == support[None, :]) & (src_id[:, None] >= 0)
            points, extra_cols = bank.points, np.zeros((n, 0), dtype=bool)
            if 0 < n_mix < len(source):
                # without source clip s, a target whose n_mix nearest held s mixes with the next
                spare = self._mix(target, source[order[:, n_mix]])
                points = np.concatenate([points, spare])
                chosen = (order[:, :n_mix][None, :, :] == src_id[:, None, None]).any(axis=2)
                extra_cols = ~(chosen & (src_id[:, None] >= 0))
            dist = euclidean(x, points)
            out.append(nearest_mean(dist, self.top_k, np.concatenate([excluded, extra_cols],
                                                                     axis=1)))
        return out

    def _distance(self, ref, emb):
        x = prepare(emb, self.metric)
        if not (self.domain_norm and self.domain_stats == "test"):
            return np.min([b.score(x) for b in ref.banks], axis=0)
        if len(x) < 2:
            raise AsdbenchError("scorer 'genrep': domain_stats = test standardises by the "
                                "scored clips of a class and needs at least two of them; use "
                                "scorer.domain_stats=train")
        scores = []
        for bank in ref.banks:
            raw = bank.raw(x)
            mu, sd = _stats(raw)
            scores.append((raw - mu) / sd)
        return np.min(scores, axis=0)

    def _held_out(self, ref, emb, domain):
        """Held-out distances, standardised by the training clips' statistics."""
        self._check(ref, emb)
        return np.min([b.weight * d + b.offset
                       for b, d in zip(ref.banks, ref.extra["held"], strict=True)], axis=0)

    def to_torch(self, head: nn.Module, num_classes: int) -> nn.Module:
        if self.domain_norm and self.domain_stats == "test":
            raise AsdbenchError("scorer 'genrep' with domain_stats = test standardises by the "
                                "scored clips and cannot be exported; use "
                                "scorer.domain_stats=train")
        return super().to_torch(head, num_classes)


def _stats(values: np.ndarray) -> tuple[float, float]:
    """Mean and std (ddof 0, as GenRep's code) of the finite ``values``; (0, 1) with fewer
    than two or no spread: that bank is then not standardised."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    sd = float(v.std()) if len(v) >= 2 else 0.0
    if sd <= 0.0:
        return 0.0, 1.0
    return float(v.mean()), sd


def _metric(options: dict[str, Any]) -> str:
    return choice_option(options, "metric", "scorer", (COSINE, EUCLID))


def make_knn_so_ta(options: dict[str, Any]) -> Any:
    ratio = float_option(options, "smote_ratio", "scorer")
    if not 0.0 <= ratio <= 1.0:
        raise AsdbenchError(f"scorer.smote_ratio must be in [0, 1], got {ratio}")
    return normalized(KnnSoTaScorer(
        n_neighbors_so=int_option(options, "n_neighbors_so", "scorer"),
        n_neighbors_ta=int_option(options, "n_neighbors_ta", "scorer", minimum=0),
        metric=_metric(options), smote_ratio=ratio,
        smote_neighbors=int_option(options, "smote_neighbors", "scorer")), options)


def make_knn_rescale(options: dict[str, Any]) -> Any:
    return normalized(KnnRescaleScorer(
        n_neighbors=int_option(options, "n_neighbors", "scorer"),
        k_ref_normalize=int_option(options, "k_ref_normalize", "scorer"),
        metric=_metric(options)), options)


def make_genrep(options: dict[str, Any]) -> Any:
    alpha = float_option(options, "alpha", "scorer")
    if not 0.0 <= alpha <= 1.0:
        raise AsdbenchError(f"scorer.alpha must be in [0, 1], got {alpha}")
    return normalized(GenRepScorer(
        top_k=int_option(options, "top_k", "scorer"),
        n_mix_support=int_option(options, "n_mix_support", "scorer", minimum=0),
        alpha=alpha, domain_norm=bool(options["domain_norm"]),
        domain_stats=choice_option(options, "domain_stats", "scorer", ("train", "test")),
        metric=_metric(options)), options)
