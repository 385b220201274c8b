"""Method ``dcase-ae``: the organisers' autoencoder baseline of DCASE 2021-2025, with the
MSE or the selective Mahalanobis score (``method.score``).

The network, the windows and the per-type routing are the 2020 baseline's
(:class:`~asdbench_dcase_baselines.methods.DCASE2020AE`); ``method.init`` picks Keras' or
torch's initialisation. With ``score = "mahalanobis"`` the method keeps, per network, the
covariance of its training errors in the source and in the target domain (buffers, saved with
the model) and scores a clip by :func:`~asdbench_dcase_baselines.mahalanobis.
selective_mahalanobis`. The covariances are fitted after training, on the training clips with
their domains (the engine's ``fit_train`` seam), as the organisers' extra pass after the last
epoch; until then (training, validation) the method reports its MSE, as their validation does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from asdbench.sdk import AsdbenchError, FrontendInfo
from asdbench_dcase_baselines.frames import windows
from asdbench_dcase_baselines.mahalanobis import (
    SOURCE,
    TARGET,
    ErrorMoments,
    is_target,
    precision_of,
    selective_mahalanobis,
)
from asdbench_dcase_baselines.methods import DCASE2020AE, dcase2020_autoencoder

SCORES = ("mse", "mahalanobis")
INITS = ("keras", "torch")


class DcaseAE(DCASE2020AE):
    """The DCASE 2021-2025 autoencoder baseline (one network per machine type)."""

    def __init__(self, name: str, options: dict[str, Any], num_classes: int,
                 embedding_dim: int, frontend_info: FrontendInfo,
                 class_names: Sequence[str] | None) -> None:
        super().__init__(name, options, num_classes, embedding_dim, frontend_info, class_names)
        self.name, self.score = name, str(options["score"])
        self.group_names = (sorted({c.split("/")[0] for c in class_names or ()})
                            if options["models"] == "type" else [])
        if self.score == "mahalanobis":
            shape = (len(self.nets), 2, self.values, self.values)
            self.register_buffer("cov", torch.zeros(shape))
            self.register_buffer("precision", torch.zeros(shape))
            self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def network(self, options: dict[str, Any]) -> nn.Module:
        return dcase2020_autoencoder(self.frames * self.values, int(options["units"]),
                                     int(options["depth"]), int(options["bottleneck"]),
                                     float(options["bn_momentum"]), str(options["init"]))

    def mean_error_rows(self, net: nn.Module, win: Tensor) -> Tensor:
        """``[N, values]``: each clip's mean reconstruction error over all its windows' frames."""
        res = self.residuals(net, win)
        return res.reshape(res.shape[0], -1, self.values).mean(1)

    def embed(self, z: Tensor) -> Tensor:
        """``[B, G]``: each clip's score under each group's network (MSE until the
        covariances are fitted)."""
        if self.score == "mse" or not bool(self.fitted):
            return super().embed(z)
        win = windows(z, self.values, self.frames)
        return torch.stack([selective_mahalanobis(self.mean_error_rows(net, win),
                                                  self.precision[g]).to(z.dtype)
                            for g, net in enumerate(self.nets)], 1)

    @torch.no_grad()
    def fit_train(self, batches: Iterable[tuple[Tensor, Tensor, np.ndarray]]) -> None:
        """The error covariances of every network per domain, from ``(z, labels, domains)``
        batches of the training clips (each clip through its class's network)."""
        if self.score != "mahalanobis":
            return
        moments = ErrorMoments(len(self.nets), self.values)
        for z, labels, domains in batches:
            win = windows(z, self.values, self.frames)
            groups = self.group_of_class[labels].cpu()
            target = torch.tensor([is_target(d) for d in domains], dtype=torch.bool)
            for g in torch.unique(groups).tolist():
                for domain, mask in ((SOURCE, (groups == g) & ~target),
                                     (TARGET, (groups == g) & target)):
                    if mask.any():
                        res = self.residuals(self.nets[g], win[mask.to(win.device)])
                        moments.add(g, domain, res.reshape(-1, self.values),
                                    res.shape[0] * res.shape[1])
        for g in range(len(self.nets)):
            if moments.windows[g, SOURCE] < 2:
                raise AsdbenchError(f"method '{self.name}': fewer than 2 source-domain training "
                                    f"windows of {self.group_label(g)} to fit its error "
                                    "covariance (more training clips?)")
            source = moments.covariance(g, SOURCE)
            # the organisers: no target clip -> the target covariance is the source one
            target = (moments.covariance(g, TARGET) if moments.windows[g, TARGET] >= 2
                      else source)
            cov = torch.stack([source, target])
            self.cov[g] = cov.to(self.cov)
            self.precision[g] = precision_of(cov).to(self.precision)
        self.fitted.fill_(True)

    def group_label(self, g: int) -> str:
        if len(self.group_names) == len(self.nets):
            return f"machine type '{self.group_names[g]}'"
        return f"network {g}"


def dcase_ae_factory(options: dict[str, Any], num_classes: int, embedding_dim: int,
                     frontend_info: FrontendInfo,
                     class_names: Sequence[str] | None = None) -> DcaseAE:
    if options["score"] not in SCORES or options["init"] not in INITS:
        raise AsdbenchError(f"method 'dcase-ae': score must be one of {', '.join(SCORES)} and "
                            f"init one of {', '.join(INITS)}")
    return DcaseAE("dcase-ae", options, num_classes, embedding_dim, frontend_info, class_names)
