"""Torch pieces of training: one epoch of mini-batch Adam on the negative
ELBO, the running average of the weights, the validation ELBO, KL warm-up
and the trimmed loss.

Plain PyTorch: no numpy, no scikit-learn. The loop over epochs, with its
stopping rule and the state kept between calls (``partial_fit``,
``warm_start``), lives in the estimator (``_base.BaseVAE._fit_epochs``), as
in scikit-learn's MLP. The hot loop does no avoidable work: the data arrive
as one tensor already on the training device (float32, not copied), each
batch is gathered by index with ``index_select`` (several times cheaper than
``X[indices]`` for wide rows), the latent noise is drawn for many batches at
once, the step losses stay on the device and the host synchronises once per
epoch (not once per step) to read the loss, and Adam uses its fused kernel
where this PyTorch build has one.
"""

import torch

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


@torch.no_grad()
def mean_elbo(vae, X, noise):
    """Mean per-row ELBO (KL weight 1) over ``X``, in bounded chunks."""
    was_training = vae.training
    vae.eval()
    total = torch.zeros((), dtype=torch.float64, device=X.device)
    for start in range(0, X.shape[0], VALIDATION_CHUNK_ROWS):
        total += elbo(vae, X[start : start + VALIDATION_CHUNK_ROWS], noise).sum().double()
    vae.train(was_training)
    return total.item() / X.shape[0]


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
    vae, X, optimizer, kl_weight, batch_size, generator, trim_fraction=0.0, average=None
):
    """One pass over the rows of ``X`` in a random order; returns the mean loss.

    Each step's loss is the negative ELBO averaged over the batch, without
    the ``trim_fraction`` of its rows with the lowest ELBO. Reading the loss
    at the end is the epoch's one host synchronisation. ``average`` (a
    :class:`WeightAverage` of ``vae``), when given, is updated after every
    step.
    """
    vae.train()
    n_rows = X.shape[0]
    batch_size = min(batch_size, n_rows)
    noise_rows = batch_size * NOISE_BLOCK_BATCHES
    order = torch.randperm(n_rows, generator=generator, device=X.device)
    step_losses = []
    for start in range(0, n_rows, batch_size):
        offset = start % noise_rows
        if offset == 0:
            noise_block = torch.randn(
                (1, min(noise_rows, n_rows - start), vae.latent_dim),
                generator=generator,
                device=X.device,
                dtype=X.dtype,
            )
        batch = X.index_select(0, order[start : start + batch_size])  # (batch, n_features)
        noise = noise_block[:, offset : offset + batch_size]  # (1, batch, latent_dim)
        loss = -trimmed_mean(elbo(vae, batch, noise, kl_weight), trim_fraction)
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
