"""The selective Mahalanobis score of the DCASE 2023-2025 autoencoder baseline, as pure maths.

What the organisers' code computes (nttcslab/dcase2023_task2_baseline_ae,
``networks/criterion/mahala.py`` and ``networks/dcase2023t2_ae/dcase2023t2_ae.py``):

- *Rows.* A reconstruction-error vector ``recon - x`` of one 5-frame window (640 values) is cut
  into its frames (``view(-1, block_size)``, ``block_size = n_mels = 128``): the statistics
  are over frame rows of 128 values.
- *Covariances* (an extra pass over the training subset after the last epoch, model in eval
  mode): per domain (a clip is ``target`` when its file name contains "target", otherwise
  ``source``), the scatter of its error rows around their mean, summed over batches, divided
  by ``(number of source (target) windows - 1)``: windows, not rows, so the matrix is about
  5 times the rows' covariance. No target clip: the target covariance is the source one.
  The code centres each batch's rows on that batch's mean; here they are centred on the
  domain's mean over every training clip (the batches of a shuffled loader cannot be
  replayed; the difference is the spread of the batch means).
- *Score of a clip*: ``mahalanobis(recon, x, inv_cov)`` forms the matrix
  ``delta @ inv_cov @ delta.T`` over all rows of the clip and takes its mean, which is
  ``mean_row.T @ inv_cov @ mean_row`` with ``mean_row`` the clip's mean error row: the
  squared Mahalanobis norm of the mean error row, no square root. Computed with the source
  and the target precision; the score is the smaller ("selective").
- The inverse is ``torch.inverse``; here the pseudo-inverse of the symmetric matrix, which
  is the inverse whenever that exists and stays finite on a singular covariance (fewer
  rows than 128, a constant mel band).
"""

from __future__ import annotations

import torch
from torch import Tensor

SOURCE, TARGET = 0, 1


def is_target(domain: object) -> bool:
    """The organisers' rule: a clip is of the target domain when its name says "target"."""
    return "target" in str(domain)


class ErrorMoments:
    """Running sums of error rows per (group, domain), in float64: count of windows and of
    rows, sum of the rows, sum of their outer products."""

    def __init__(self, groups: int, dim: int) -> None:
        self.windows = torch.zeros(groups, 2, dtype=torch.float64)
        self.rows = torch.zeros(groups, 2, dtype=torch.float64)
        self.sum = torch.zeros(groups, 2, dim, dtype=torch.float64)
        self.outer = torch.zeros(groups, 2, dim, dim, dtype=torch.float64)

    def add(self, group: int, domain: int, rows: Tensor, windows: int) -> None:
        """Add ``rows`` ``[R, dim]`` (the frame rows of ``windows`` windows)."""
        r = rows.detach().to("cpu", torch.float64)
        self.windows[group, domain] += windows
        self.rows[group, domain] += r.shape[0]
        self.sum[group, domain] += r.sum(0)
        self.outer[group, domain] += r.T @ r

    def covariance(self, group: int, domain: int) -> Tensor:
        """Scatter of the rows around their mean / (windows - 1), as the organisers divide."""
        n = self.rows[group, domain]
        mean = self.sum[group, domain] / n
        scatter = self.outer[group, domain] - n * torch.outer(mean, mean)
        return scatter / (self.windows[group, domain] - 1)


def precision_of(cov: Tensor) -> Tensor:
    """The (pseudo-)inverse of a covariance matrix, float64 in, same dtype out."""
    return torch.linalg.pinv(cov.double(), hermitian=True).to(cov.dtype)


def mahalanobis(mean_rows: Tensor, precisions: Tensor) -> Tensor:
    """``[N, D]`` mean error rows, ``[K, D, D]`` precisions -> ``[N, K]`` squared norms."""
    m = mean_rows.to(precisions.dtype)
    return torch.einsum("nd,kde,ne->nk", m, precisions, m)


def selective_mahalanobis(mean_rows: Tensor, precisions: Tensor) -> Tensor:
    """``[N]``: the smaller of the clip's Mahalanobis scores under the source and the target
    precision (``precisions[SOURCE]``, ``precisions[TARGET]``)."""
    return mahalanobis(mean_rows, precisions).min(1).values
