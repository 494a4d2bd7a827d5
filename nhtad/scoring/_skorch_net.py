"""The private skorch pieces behind :class:`~nhtad.scoring.SACWoLaClassifier`.

skorch's documented pattern for per-event weights (FAQ, "How do I use sample weights"): the
input is a dict ``{"data": X, "weight": w}``, the criterion is unreduced, and ``get_loss`` weighs
it. Two further choices keep training fast and reproducible without global seeding:

- batches are slices of tensors that live on the net's device, in an order drawn from a local
  :class:`torch.Generator` (skorch's default ``DataLoader`` collates one row at a time, which
  costs more than the network on 450k events);
- parameters are initialised from the same local generator with PyTorch's default ``Linear``
  law, instead of from torch's global RNG.
"""

from __future__ import annotations

import logging
import math

import torch
from skorch import NeuralNetBinaryClassifier
from skorch.callbacks import Callback

__all__ = ["MLP", "SACWoLaNet", "TensorBatches", "EpochProgress", "init_parameters"]

logger = logging.getLogger(__name__)


class MLP(torch.nn.Module):
    """Fully connected ReLU network with one logit output (Kamenik & Szewc: 3 x 64)."""

    def __init__(self, n_features: int, hidden_layer_sizes=(64, 64, 64)):
        super().__init__()
        layers = []
        width = n_features
        for size in hidden_layer_sizes:
            layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
            width = size
        layers.append(torch.nn.Linear(width, 1))
        self.layers = torch.nn.Sequential(*layers)

    def forward(self, data, **_):
        # The other keys of the input dict (the loss weights) are for get_loss, not the module.
        return self.layers(data).reshape(-1)


def init_parameters(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Re-draw every ``Linear`` layer with PyTorch's default law from a local generator."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                bound = 1.0 / math.sqrt(layer.in_features)
                torch.nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


class TensorBatches:
    """Mini-batches sliced from device tensors; a new shuffled order on every pass.

    Parameters
    ----------
    dataset : skorch.dataset.Dataset
        Holds a dict ``X`` of equal-length arrays and an optional target ``y``.
    batch_size : int
    shuffle : bool
    generator : torch.Generator or None
        CPU generator that draws the order (local seeding).
    device : str or torch.device
    """

    def __init__(self, dataset, batch_size, *, shuffle=False, generator=None, device="cpu"):
        self.x = {k: torch.as_tensor(v).to(device) for k, v in dataset.X.items()}
        self.y = None if dataset.y is None else torch.as_tensor(dataset.y).to(device)
        self.n = len(next(iter(self.x.values())))
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = generator
        self.device = device

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        order = None
        if self.shuffle:
            order = torch.randperm(self.n, generator=self.generator).to(self.device)
        for start in range(0, self.n, self.batch_size):
            if order is None:
                index = slice(start, start + self.batch_size)
            else:
                index = order[start : start + self.batch_size]
            xb = {k: v[index] for k, v in self.x.items()}
            yield xb, (None if self.y is None else self.y[index])


class SACWoLaNet(NeuralNetBinaryClassifier):
    """skorch binary classifier whose loss is the weighted mean of per-event BCE-with-logits.

    The weights (``X["weight"]``) carry the SA-CWoLa subset weighting and ``lam``; the targets
    are already inverted for simulation (see
    :func:`~nhtad.scoring.weights.sacwola_targets_and_weights`), so ``mean(w * BCE)`` is an
    unbiased mini-batch estimate of eq. 6.
    """

    def __init__(self, module, *args, generator=None, predict_batch_size=65536, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.generator = generator
        self.predict_batch_size = predict_batch_size

    def get_iterator(self, dataset, training=False):
        size = self.batch_size if training else self.predict_batch_size
        return TensorBatches(
            dataset, size, shuffle=training, generator=self.generator, device=self.device
        )

    def get_loss(self, y_pred, y_true, X=None, training=False):
        per_event = super().get_loss(y_pred, y_true, X=X, training=training)
        return (per_event * X["weight"]).mean()


class EpochProgress(Callback):
    """A tqdm bar over epochs showing the training and validation losses."""

    def __init__(self, total, desc="SA-CWoLa"):
        self.total = total
        self.desc = desc

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        self.bar_ = tqdm(total=self.total, desc=self.desc, leave=False)

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        self.bar_.set_postfix(
            {k: f"{row[k]:.4f}" for k in ("train_loss", "valid_loss") if k in row}, refresh=False
        )
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        self.bar_.close()
