"""Torch pieces of training: one epoch of mini-batch Adam on a negative
objective (the ELBO by default), the running average of the weights, the
validation score, KL warm-up, the trimmed loss, and the state that training
carries between epochs and calls (:class:`TrainingState`).

Plain PyTorch: no numpy, no scikit-learn. The loop over epochs, with its
stopping rule, lives in the estimator (``_base.BaseVAE._fit_epochs``), as
in scikit-learn's MLP. The hot loop does no avoidable work: the data arrive
as one batch already on the training device (float32, not copied), each
step's rows are gathered by index with ``index_select`` in every field of the
batch (several times cheaper than ``X[indices]`` for wide rows), the latent
noise is drawn for many batches at once, the step losses stay on the device
and the host synchronises once per epoch (not once per step) to read the
loss, and Adam uses its fused kernel where this PyTorch build has one.
"""

import copy
import hashlib
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch

from ._batch import as_batch
from ._inference import chunks
from ._objective import elbo

VALIDATION_CHUNK_ROWS = 4096
# Latent noise is drawn for this many batches in one call: one random-number
# call per step costs as much as a small layer on a small network.
NOISE_BLOCK_BATCHES = 64


class TrainingDivergedError(ValueError):
    """The training loss became NaN or infinite."""


def make_optimizer(parameters, learning_rate, weight_decay=0.0):
    """Adam with decoupled weight decay, with the fused kernel where this
    PyTorch build has one.

    Decoupled decay (AdamW, Loshchilov & Hutter 2019) shrinks every weight by
    ``learning_rate * weight_decay`` per step, apart from the adaptive
    gradient step; with ``weight_decay=0`` the update is plain Adam. The fused
    step is the same update rule as the default one, several times faster for
    small networks, where the optimiser can cost as much as the forward and
    backward passes.
    """
    parameters = list(parameters)
    settings = dict(lr=learning_rate, weight_decay=weight_decay, decoupled_weight_decay=True)
    try:
        return torch.optim.Adam(parameters, **settings, fused=True)
    except (RuntimeError, ValueError):  # no fused kernel for this device or dtype
        return torch.optim.Adam(parameters, **settings)


def set_step_settings(optimizer, learning_rate, weight_decay):
    """Set the step size and weight decay of every parameter group of ``optimizer``.

    Called after a saved optimiser state is loaded too, so that a state from a
    fit with other settings (``warm_start`` after ``set_params``) does not
    bring its own.
    """
    for group in optimizer.param_groups:
        group["lr"] = learning_rate
        group["weight_decay"] = weight_decay
        group["decoupled_weight_decay"] = True


def kl_weight_at(epoch, beta, warmup_epochs):
    """Linear KL warm-up: beta * min(1, (epoch + 1) / warmup_epochs)."""
    if warmup_epochs <= 0:
        return beta
    return beta * min(1.0, (epoch + 1) / warmup_epochs)


def epoch_mean(step_losses, n_rows, batch_size):
    """Row-weighted mean of the step losses; the one host sync of the epoch.

    Every batch has ``batch_size`` rows but the last, which has the rest.
    """
    losses = torch.stack(step_losses).double()  # (n_batches,)
    weights = torch.full_like(losses, batch_size)
    weights[-1] = n_rows - batch_size * (len(step_losses) - 1)
    return (losses @ weights).item() / n_rows


def _terms_of(result):
    """An objective's result as a dict of per-row tensors (a bare tensor is the objective)."""
    return result if isinstance(result, dict) else {"objective": result}


class TermMeans:
    """Row-weighted means of an objective's parts over the steps of an epoch.

    Each part (``reconstruction``, ``kl``, ``kl_per_dimension``) of each
    step is averaged over the step's rows on the device, and the means are
    read once, at the end (one host synchronisation).
    """

    PARTS = ("reconstruction", "kl", "kl_per_dimension")

    def __init__(self):
        self.sums = {}
        self.n_rows = 0

    @torch.no_grad()
    def add(self, terms):
        for name in self.PARTS:
            value = terms.get(name)
            if value is not None:
                total = value.detach().sum(0, dtype=torch.float64)
                self.sums[name] = total if name not in self.sums else self.sums[name] + total
        self.n_rows += terms["objective"].shape[0]

    def means(self):
        """{part: float (or list of floats per latent dimension)}, for the parts seen."""
        return {name: (total / self.n_rows).tolist() for name, total in self.sums.items()}


@torch.no_grad()
def mean_terms(vae, batch, noise, objective):
    """Mean per-row value and parts of ``objective`` (KL weight 1) over ``batch``.

    Returns ``(mean objective, {part: mean})``: the validation score that
    early stopping compares, and the parts recorded as validation curves.
    """
    was_training = vae.training
    vae.eval()
    total = torch.zeros((), dtype=torch.float64, device=batch.values.device)
    parts = TermMeans()
    for start, stop in chunks(batch.n_rows, VALIDATION_CHUNK_ROWS):
        terms = _terms_of(objective(vae, batch.rows(start, stop), noise, 1.0))
        total += terms["objective"].sum().double()
        parts.add(terms)
    vae.train(was_training)
    return total.item() / batch.n_rows, parts.means()


def trimmed_mean(values, trim_fraction):
    """Mean of ``values`` (shape (n,)) without the lowest ``trim_fraction`` of them.

    As in least trimmed squares (Rousseeuw, 1984): the rows the model fits
    worst do not pull on the fit, so a minority of outliers is not learnt.
    """
    n_kept = values.shape[0] - int(trim_fraction * values.shape[0])
    if n_kept == values.shape[0]:
        return values.mean()
    return values.topk(n_kept, sorted=False).values.mean()


class WeightAverage:
    """Exponential moving average of a network's parameters (Polyak averaging).

    After every Adam step of ``source``, ``target``'s parameters move towards
    it: ``target += (1 - d) * (source - target)``, with
    ``d = min(decay, (1 + n) / (10 + n))`` at the ``n``-th update, so that
    the average follows the early, fast-changing weights closely (as
    TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``). The
    average of the noisy stochastic-gradient iterates scores better than the
    last iterate at the same step count (Polyak and Juditsky, 1992), which is
    what early stopping compares and keeps.

    Buffers (the input standardisation) are not averaged: they do not train.
    """

    def __init__(self, source, target, decay, n_updates=0):
        self.source = [p for p in source.parameters()]
        self.target = [p for p in target.parameters()]
        self.decay = decay
        self.n_updates = n_updates

    @torch.no_grad()
    def update(self):
        self.n_updates += 1
        decay = min(self.decay, (1 + self.n_updates) / (10 + self.n_updates))
        torch._foreach_lerp_(self.target, self.source, 1.0 - decay)


def run_epoch(
    vae,
    data,
    optimizer,
    kl_weight,
    batch_size,
    generator,
    trim_fraction=0.0,
    average=None,
    objective=elbo,
    parts=None,
):
    """One pass over the rows of ``data`` (a Batch) in a random order; returns the mean loss.

    Each step's loss is the negative ``objective`` (``objective(vae, batch,
    noise, kl_weight)``, one value per row; the ELBO by default) averaged
    over the step's rows, without the ``trim_fraction`` of them with the
    lowest value. ``noise`` holds ``objective.n_draws`` standard normal
    draws per row (one when the objective does not say), shape
    (n_draws, batch, latent_dim), so that an importance-weighted objective
    gets its K draws; an objective with ``draws_values`` gets
    ``vae.n_features`` more values per draw, for the missing values it
    draws. When the objective returns a dict (see
    ``_objective.elbo_terms``) and ``parts`` (a :class:`TermMeans`) is
    given, the means of its parts over the epoch's rows are added to it.
    Reading the loss at the end is the epoch's one host synchronisation.
    ``average`` (a :class:`WeightAverage` of ``vae``), when given, is
    updated after every step.
    """
    vae.train()
    data = as_batch(data)
    X = data.values
    n_rows = X.shape[0]
    batch_size = min(batch_size, n_rows)
    noise_rows = batch_size * NOISE_BLOCK_BATCHES
    n_draws = getattr(objective, "n_draws", 1)
    width = vae.latent_dim  # noise per draw: z's, then the missing values' if it draws them
    if getattr(objective, "draws_values", False):
        width += vae.n_features
    order = torch.randperm(n_rows, generator=generator, device=X.device)
    step_losses = []
    for start in range(0, n_rows, batch_size):
        offset = start % noise_rows
        if offset == 0:
            noise_block = torch.randn(
                (n_draws, min(noise_rows, n_rows - start), width),
                generator=generator,
                device=X.device,
                dtype=X.dtype,
            )
        batch = data.select(order[start : start + batch_size])  # (batch, n_features) each
        noise = noise_block[:, offset : offset + batch_size]  # (n_draws, batch, width)
        terms = _terms_of(objective(vae, batch, noise, kl_weight))
        loss = -trimmed_mean(terms["objective"], trim_fraction)
        if parts is not None:
            parts.add(terms)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if average is not None:
            average.update()
        step_losses.append(loss.detach())
    vae.eval()
    loss = epoch_mean(step_losses, n_rows, batch_size)
    if loss != loss or loss in (float("inf"), float("-inf")):
        raise TrainingDivergedError(
            f"The training loss became {loss}. Try a smaller learning_rate, "
            "standardise the data, or raise min_variance."
        )
    return loss


def copy_state(vae):
    """A detached copy of the module's parameters and buffers (the best weights)."""
    return {name: value.detach().clone() for name, value in vae.state_dict().items()}


@dataclass
class TrainingState:
    """Everything the training loop carries between epochs and between calls.

    One object on the estimator, as scikit-learn's MLP keeps ``_optimizer``:
    :meth:`reset_stopping` starts a fit's stopping bookkeeping afresh,
    :meth:`to_cpu` prepares it for pickling a model trained on a GPU, and
    :meth:`snapshot` is an independent copy that a failed call restores.

    Attributes
    ----------
    network_spec : tuple
        What the network was built from; ``warm_start`` checks it is unchanged.
    generator_state : Tensor or None
        The training random generator's state; None for a pickled GPU
        model, which continues from ``fallback_seed``.
    optimizer_state : dict or None
        Adam's ``state_dict`` (moments and step counts).
    learning_rate : float
        The current step size (the adaptive schedule divides it).
    training_weights : dict or None
        The last iterate, when the model is a running average of it.
    averaging_updates : int
        Updates the running average has had.
    no_improvement_count, learning_rate_cuts, improved_since_cut, best_state
        The stopping rule's bookkeeping, reset by every ``fit``.
    """

    network_spec: Any
    generator_state: Any
    learning_rate: float
    fallback_seed: Any = None
    optimizer_state: Any = None
    training_weights: Any = None
    averaging_updates: int = 0
    no_improvement_count: int = 0
    learning_rate_cuts: int = 0
    improved_since_cut: bool = True
    collapsed_epochs: int = 0
    best_state: Any = field(default=None, repr=False)

    def reset_stopping(self, learning_rate):
        """Fresh stopping bookkeeping, and the step size back to ``learning_rate``."""
        self.no_improvement_count = 0
        self.learning_rate_cuts = 0
        self.improved_since_cut = True
        self.collapsed_epochs = 0
        self.learning_rate = float(learning_rate)
        self.best_state = None

    def generator(self, device):
        """The training generator on ``device``, in the state the last call left it."""
        generator = torch.Generator(device)
        if self.generator_state is None:  # a pickled GPU model, continued on the CPU
            generator.manual_seed(self.fallback_seed)
        else:
            generator.set_state(self.generator_state)
        return generator

    def snapshot(self):
        """An independent copy: Adam's moments and the kept weights are cloned."""
        return copy.deepcopy(self)

    def to_cpu(self):
        """A copy of the state of a GPU fit with every tensor on the CPU.

        A GPU random generator's state cannot seed a CPU generator: it is
        replaced by a seed drawn from it, so that training continues
        reproducibly, but not on the GPU's random stream.
        """
        moved = {f.name: _tensors_to_cpu(getattr(self, f.name)) for f in fields(self)}
        state = replace(self, **moved)
        if self.generator_state is not None:
            state.fallback_seed = _seed_from_state(self.generator_state)
            state.generator_state = None
        return state


def _tensors_to_cpu(value):
    """``value`` (nested dicts, lists and tuples of tensors) with every tensor on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _tensors_to_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_tensors_to_cpu(item) for item in value)
    return value


def _seed_from_state(generator_state):
    """A 63-bit seed that depends on every byte of a generator's state."""
    digest = hashlib.sha256(generator_state.cpu().numpy().tobytes()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
