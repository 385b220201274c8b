"""Provide method ``cosine-id``: a machine-ID classifier on cosine logits (an example plugin)."""

import torch
import torch.nn.functional as F
from torch import nn

from asdbench.sdk import Component, Option, hookimpl

OPTIONS = {"scale": Option(16.0, minimum=1.0, help="multiplier of the cosine logits")}


class CosineClassifier(nn.Module):
    mixup_alpha = None  # the engine trains on unmixed batches

    def __init__(self, options, num_classes, embedding_dim, frontend_info):
        super().__init__()
        self.scale = options["scale"]
        self.centres = nn.Parameter(0.01 * torch.randn(num_classes, embedding_dim))

    def embed(self, z):  # what the embedding scorers (knn, mahalanobis, ...) see
        return F.normalize(z, dim=1)

    def logits(self, e, labels):  # class logits; the default scorer takes -log p(own ID)
        return self.scale * e @ F.normalize(self.centres, dim=1).T

    def loss(self, z, y_a, y_b, lam):  # without mixup, y_b is y_a and lam is 1
        logits = self.logits(self.embed(z), y_a)
        return F.cross_entropy(logits, y_a), logits


@hookimpl
def asdbench_methods():
    return [Component("cosine-id", CosineClassifier, OPTIONS, "cosine-logit ID classifier")]
