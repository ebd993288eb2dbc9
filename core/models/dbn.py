"""S2: the Deep Belief Network (Mountzouris, Perikos, Hatzilygeroudis, Electronics 2023, section 3.1).

"a DBN with three hidden layers ... of 128 nodes each, which receives as input the time average of the 40 MFCCs.
Each hidden layer can be considered a Restricted Boltzman Machine (RBM)". The paper built it on the
deep-belief-network package (github.com/albertbup/deep-belief-network): RBMs trained greedily, layer by layer,
with contrastive divergence (CD-1, plain SGD), whose weights then start a feed-forward net (dropout after every
hidden layer, softmax output) fine-tuned by backpropagation. Here:

* ``RBM``: one restricted Boltzmann machine over a ``nn.Linear`` (weight ``W`` (hidden x visible), bias = hidden
  bias ``c``) and a visible bias ``b`` (a buffer beside the layer's weight). CD-1 in torch tensor ops (torch has
  no RBM): ``h0 ~ p(h | v0)``, ``v1 ~ p(v | h0)``, ``W += lr (<p(h|v0) v0> - <p(h|v1) v1>)`` and likewise for the
  biases, statistics averaged over the batch (as scikit-learn's ``BernoulliRBM`` does, which the tests compare).
* Units (``UNITS``): "bernoulli" (sigmoid mean, binary samples), "gaussian" (unit variance, linear mean; the
  reconstruction uses the mean, the usual choice that keeps CD-1 low-noise) and "relu" (Nair & Hinton's noisy
  rectified linear units, ICML 2010: mean ``max(0, x)``, sample ``max(0, x + N(0, sigmoid(x)))``). The first
  RBM is Gaussian-Bernoulli (Gaussian-ReLU): its visible units are the standardised, real-valued MFCC means,
  which binary units cannot model. Each higher RBM's visible units are the kind of the hidden units below.
* ``DBN``: input norm, time average, ``[Linear -> sigmoid|relu -> Dropout] x 3``, ``Linear`` to the classes.
  ``pretrain(batches)`` trains the RBM stack on those very ``Linear`` layers, so fine-tuning starts from the
  RBM weights with nothing copied; ``pretrain_done`` (a buffer, so checkpoints hold it) says it has run.
* ``core.training.pretrain.pretrain_stage``, the training loop's hook: a model with ``pretrain`` is pre-trained
  once before the supervised epochs, never again on resume (the checkpoint holds the pre-trained, fine-tuned
  weights); the record (per layer, per epoch reconstruction error) goes into the card's training info.

``activation`` "sigmoid" is the classic DBN (Hinton, Osindero & Teh 2006; Bernoulli hidden units); the paper
says "as well as the ReLU activation function", which ``core.presets``' ``s2-dbn`` sets. The package's own "relu"
RBM samples binary units with probability ``relu(x)``, not a distribution; NReLU is the RBM that has ReLU means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from core.models.base import SerModel
from core.models.checks import check_bool, check_choice, check_float, check_int, check_ints
from core.models.registry import register_model
from core.models.spec import ModelSpec

# ----------------------------------------------------------------------------- units


def _nrelu_sample(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x + torch.randn_like(x) * torch.sigmoid(x).sqrt())


@dataclass(frozen=True)
class Unit:
    """One kind of RBM unit, given its total input ``x``: ``mean`` E[u | x], ``sample`` a draw; as a hidden unit
    ``log_partition`` (``d/dx = mean``: its term of the free energy); as a visible unit ``energy(v, b)``."""

    mean: Callable[[torch.Tensor], torch.Tensor]
    sample: Callable[[torch.Tensor], torch.Tensor]
    log_partition: Callable[[torch.Tensor], torch.Tensor]
    energy: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


_SQUARE = lambda v, b: 0.5 * (v - b) ** 2  # noqa: E731  unit-variance Gaussian (and rectified Gaussian) energy
UNITS = {
    "bernoulli": Unit(torch.sigmoid, lambda x: torch.bernoulli(torch.sigmoid(x)), F.softplus, lambda v, b: -v * b),
    "gaussian": Unit(lambda x: x, lambda x: x, lambda x: 0.5 * x ** 2, _SQUARE),
    "relu": Unit(torch.relu, _nrelu_sample, lambda x: 0.5 * torch.relu(x) ** 2, _SQUARE),
}
ACTIVATIONS = {"sigmoid": "bernoulli", "relu": "relu"}  # the net's activation -> the RBM's hidden unit kind


class RBM:
    """A restricted Boltzmann machine on ``layer`` (``W``, hidden bias) and ``visible_bias``, updated in place."""

    def __init__(self, layer: nn.Linear, visible_bias: torch.Tensor, visible: str = "bernoulli",
                 hidden: str = "bernoulli"):
        self.layer, self.visible_bias = layer, visible_bias
        self.visible_kind, self.hidden_kind = visible, hidden
        self.visible, self.hidden = UNITS[visible], UNITS[hidden]

    def _hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        return F.linear(v, self.layer.weight, self.layer.bias)

    def _visible_input(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.layer.weight + self.visible_bias

    def hidden_mean(self, v: torch.Tensor) -> torch.Tensor:
        return self.hidden.mean(self._hidden_input(v))

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        return self.visible.mean(self._visible_input(h))

    def reconstruct(self, v: torch.Tensor) -> torch.Tensor:
        """The mean-field reconstruction ``E[v | E[h | v]]``."""
        return self.visible_mean(self.hidden_mean(v))

    def reconstruction_error(self, v: torch.Tensor) -> torch.Tensor:
        """Squared error of the reconstruction, summed over units, averaged over the batch (the package's monitor)."""
        return (self.reconstruct(v) - v).pow(2).sum(dim=1).mean()

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """``F(v) = sum_i E_i(v_i) - sum_j log_partition(x_j)`` per row; the CD-1 update is ``-lr`` times the gradient
        of ``mean F(v0) - mean F(v1)`` (v1 held fixed)."""
        return self.visible.energy(v, self.visible_bias).sum(dim=1) - \
            self.hidden.log_partition(self._hidden_input(v)).sum(dim=1)

    @torch.no_grad()
    def negative_sample(self, v: torch.Tensor) -> torch.Tensor:
        """One Gibbs step from the data: ``v1 ~ p(v | h0)``, ``h0 ~ p(h | v)`` (the global RNG draws)."""
        return self.visible.sample(self._visible_input(self.hidden.sample(self._hidden_input(v))))

    @torch.no_grad()
    def update(self, v_pos: torch.Tensor, v_neg: torch.Tensor, lr: float) -> None:
        """The contrastive-divergence step: positive minus negative statistics, hidden means, batch averages."""
        h_pos, h_neg = self.hidden_mean(v_pos), self.hidden_mean(v_neg)
        n = v_pos.shape[0]
        self.layer.weight.add_((h_pos.T @ v_pos - h_neg.T @ v_neg) / n, alpha=lr)
        self.layer.bias.add_((h_pos - h_neg).mean(dim=0), alpha=lr)
        self.visible_bias.add_((v_pos - v_neg).mean(dim=0), alpha=lr)

    @torch.no_grad()
    def cd1(self, v: torch.Tensor, lr: float) -> torch.Tensor:
        """One CD-1 step on batch ``v``; returns the reconstruction error before the step (a 0-d tensor)."""
        error = self.reconstruction_error(v)
        self.update(v, self.negative_sample(v), lr)
        return error


# ----------------------------------------------------------------------------- the model

DBN_SPEC = ModelSpec(
    name="dbn", paper="S2", input_kind="mfcc-seq", feature_preset="mfcc40", min_frames=1,
    description="S2 (Mountzouris et al., Electronics 2023): DBN, RBMs pre-trained with CD-1 on the time-averaged "
                "MFCCs, then fine-tuned as a feed-forward net",
)


class DBN(SerModel):
    """RBM-pre-trained dense layers on the time-averaged MFCCs; see the module docstring."""

    default_spec = DBN_SPEC

    def __init__(self, num_classes: int, n_mfcc: int, hidden: tuple[int, ...], activation: str, dropout: float,
                 input_norm: bool, pretrain_epochs: int, pretrain_lr: float):
        super().__init__()
        self.bands = n_mfcc
        # per-coefficient BatchNorm of the frames (c0 is 100x the rest): the Gaussian RBM's unit variance needs
        # standardised input; on frames, not clip means, so that a batch of one clip still trains
        self.input_norm = nn.BatchNorm1d(n_mfcc) if input_norm else nn.Identity()
        self.activation, self.pretrain_epochs, self.pretrain_lr = activation, pretrain_epochs, pretrain_lr
        layers, dim = [], n_mfcc
        for width in hidden:
            linear = nn.Linear(dim, width)
            nn.init.normal_(linear.weight, std=dim ** -0.5)  # the package's RBM initialisation, N(0, 1/visible)
            nn.init.zeros_(linear.bias)
            linear.register_buffer("visible_bias", torch.zeros(dim))  # the RBM's b: pre-training only
            layers += [linear, nn.Sigmoid() if activation == "sigmoid" else nn.ReLU(), nn.Dropout(dropout)]
            dim = width
        self.mlp = nn.Sequential(*layers)
        self.num_features = dim
        self.fc = nn.Linear(dim, num_classes)
        self.register_buffer("pretrain_done", torch.tensor(False))
        # the clip means' standardisation (the Gaussian RBM's unit variance): fitted on the training clips by
        # pretrain, identity until then. Frame-standardised MFCCs average to clip means of sd ~0.25, which three
        # RBMs shrink to a constant the classifier cannot read (fine-tuning then stays at chance)
        self.register_buffer("clip_mean", torch.zeros(n_mfcc))
        self.register_buffer("clip_std", torch.ones(n_mfcc))

    @property
    def is_pretrained(self) -> bool:
        return bool(self.pretrain_done)

    def rbms(self) -> list[RBM]:
        """The RBM of each hidden layer, bottom up, on the net's own ``Linear`` layers."""
        linears = [m for m in self.mlp if isinstance(m, nn.Linear)]
        hidden = ACTIVATIONS[self.activation]
        return [RBM(layer, layer.visible_bias, "gaussian" if i == 0 else hidden, hidden)
                for i, layer in enumerate(linears)]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The (normalised) MFCC sequence ``(B, n_mfcc, T)``: as SDNN, no feature map but the input."""
        return self.input_norm(self._check_input(x))

    def clip_means(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, n_mfcc)``: each clip's time average, standardised by the training clips' statistics."""
        return (features.mean(dim=2) - self.clip_mean) / self.clip_std

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        emb = self.mlp(self.clip_means(features))
        return emb if pre_logits else self.fc(emb)

    @torch.no_grad()
    def pretrain(self, batches: Callable[[int], Iterable[torch.Tensor]], epochs: int | None = None,
                 lr: float | None = None, progress: bool = False) -> dict | None:
        """Greedy layer-wise CD-1: RBM 1 for ``epochs`` on the clip means, then RBM 2 on RBM 1's hidden means, ...

        ``batches(epoch)`` yields the epoch's feature batches ``(B, n_mfcc, T)``; ``epochs``/``lr`` default to the
        model's ``pretrain_epochs``/``pretrain_lr``. The input norm runs on batch statistics (its running
        statistics fill as in training); no dropout. Returns the record (None when ``epochs`` is 0)."""
        epochs = self.pretrain_epochs if epochs is None else epochs
        lr = self.pretrain_lr if lr is None else lr
        if epochs == 0:
            return None
        was_training = self.training
        self.eval()
        self.input_norm.train()
        means = torch.cat([self.forward_features(x).mean(dim=2) for x in batches(0)])  # also fills the norm's stats
        self.clip_mean.copy_(means.mean(dim=0))
        self.clip_std.copy_(means.std(dim=0).clamp_min(1e-6))
        rbms, layers = self.rbms(), []
        bar = tqdm(total=len(rbms) * epochs, desc="pretrain dbn", unit="epoch", disable=not progress, leave=False)
        for k, rbm in enumerate(rbms):
            errors = []
            for epoch in range(epochs):
                total, count = 0.0, 0
                for x in batches(epoch):
                    v = self.clip_means(self.forward_features(x))
                    for below in rbms[:k]:
                        v = below.hidden_mean(v)
                    total = total + rbm.cd1(v, lr) * len(v)
                    count += len(v)
                errors.append(float(total) / max(count, 1))
                bar.update()
                bar.set_postfix(layer=k + 1, error=f"{errors[-1]:.3f}")
            layers.append({"layer": k + 1, "visible": rbm.visible_kind, "hidden": rbm.hidden_kind,
                           "units": rbm.layer.out_features, "reconstruction_error": errors})
        bar.close()
        self.pretrain_done.fill_(True)
        self.train(was_training)
        return {"method": "CD-1", "epochs": epochs, "lr": lr, "layers": layers}


@register_model(DBN_SPEC, demo={"hidden": (32, 16), "pretrain_epochs": 2})
def dbn(num_classes: int, *, n_mfcc: int = 40, hidden: tuple[int, ...] = (128, 128, 128), activation: str = "sigmoid",
        dropout: float = 0.2, input_norm: bool = True, pretrain_epochs: int = 50, pretrain_lr: float = 0.005) -> DBN:
    """The paper's sizes and pre-training values (section 3.1); ``activation`` "relu" is the paper's (``s2-dbn``)."""
    return DBN(num_classes, check_int("n_mfcc", n_mfcc), check_ints("hidden", hidden),
               check_choice("activation", activation, tuple(ACTIVATIONS)), check_float("dropout", dropout, 0.0, 1.0),
               check_bool("input_norm", input_norm), check_int("pretrain_epochs", pretrain_epochs, minimum=0),
               check_float("pretrain_lr", pretrain_lr, 0.0, 10.0, low_open=True))


__all__ = ["ACTIVATIONS", "DBN", "RBM", "UNITS", "Unit", "dbn"]
