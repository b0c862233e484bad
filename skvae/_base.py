"""The scikit-learn shell shared by every skvae estimator.

It validates parameters and input, converts numpy <-> torch, calls the
training and scoring code, and sets fitted attributes. The maths lives in
``_networks``, ``_likelihoods``, ``_objective`` and ``_training``.
"""

import copy
import functools
import hashlib
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._networks import build_vae
from ._objective import (
    common_random_numbers,
    elbo,
    elbo_per_feature,
    importance_weighted_bound,
    row_keyed_normal_draws,
)
from ._progress import EpochProgress
from ._threads import resolve_n_threads, torch_threads
from ._training import (
    WeightAverage,
    copy_state,
    kl_weight_at,
    make_optimizer,
    mean_elbo,
    run_epoch,
    set_step_settings,
)

try:  # scikit-learn >= 1.9: the callback API (sklearn.callback)
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # older scikit-learn in the supported range: no callbacks

    class CallbackSupportMixin:
        """Stand-in for scikit-learn's callback mixin, absent before 1.9."""

# Inference works on chunks of rows holding about this many float values in
# the widest intermediate tensor, so memory does not grow with the rows.
_CHUNK_ELEMENTS = 2**22
_SCORING_SEED = 0
# Rows are scored in blocks of this many (the last one padded): float32 matrix
# kernels may round a row differently depending on how many rows share the
# call, and padding makes every row's score independent of the others.
_ROW_BLOCK = 64
# learning_rate_schedule="adaptive": after n_iter_no_change epochs without
# improvement the step size is divided by this, at most this many times.
_LEARNING_RATE_CUT = 5.0
_MAX_LEARNING_RATE_CUTS = 2
# The validation ELBO that early stopping compares between epochs averages at
# most this many of the fixed scoring draws. Every epoch is scored on the same
# draws, so a cheap estimate orders the epochs much as the full one does (on
# the tuning sets it stopped within a few epochs of 16 draws, held-out ELBO
# within 0.09 nats: benchmarks/results/time_to_quality_tuning_validation*.md),
# while 16 draws made validation a fifth of an epoch's time on MNIST.
_VALIDATION_DRAWS = 4
# The largest value, in training standard deviations from the training mean,
# that the model scores: beyond it the squares in its float32 arithmetic could
# overflow. Data outside are refused with a ValueError (see _check_representable).
_MAX_STANDARDIZED = 1e12
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _padded(compute):
    """Wrap ``compute`` (rows -> one value per row) to run on whole row blocks."""

    def run(x):
        n_rows = x.shape[0]
        missing = -n_rows % _ROW_BLOCK
        if missing:
            x = torch.cat([x, x[-1:].expand(missing, -1)])  # (multiple of block, n_features)
        return compute(x)[:n_rows]

    return run


def _keep_state_on_error(fit_method):
    """Restore every attribute of the estimator if ``fit`` raises."""

    @functools.wraps(fit_method)
    def wrapper(self, *args, **kwargs):
        saved = self.__dict__.copy()
        try:
            return fit_method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    return wrapper


def _resolve_device(device):
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested, but no CUDA GPU is available.")
    return torch.device(device)


def _as_tensor(array, device, dtype=torch.float32):
    """Wrap a numpy array as a tensor; no copy for C-contiguous float32 on CPU."""
    with warnings.catch_warnings():  # read-only input is never written to
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        tensor = torch.as_tensor(np.ascontiguousarray(array))
    return tensor.to(device=device, dtype=dtype)


def _column_mean_std(X):
    """Per-column mean and (population) standard deviation, in float64.

    Two passes over chunks of rows, so the float64 temporaries stay at about
    ``_CHUNK_ELEMENTS`` values instead of a float64 copy of the whole of ``X``
    (which ``X.std(axis=0, dtype=np.float64)`` would make).
    """
    chunk_rows = max(1, _CHUNK_ELEMENTS // max(1, X.shape[1]))
    chunks = [slice(start, start + chunk_rows) for start in range(0, X.shape[0], chunk_rows)]
    mean = sum(X[rows].sum(axis=0, dtype=np.float64) for rows in chunks) / X.shape[0]
    squares = sum(np.square(X[rows] - mean).sum(axis=0) for rows in chunks)
    return mean, np.sqrt(squares / X.shape[0])


class BaseVAE(CallbackSupportMixin, BaseEstimator):
    """Parameters, fit and scoring shared by the VAE estimators."""

    # Fewest Adam steps the stopping rule waits for an improvement (see
    # ``_patience``); 0 counts epochs only, as scikit-learn's MLP does.
    _min_patience_steps = 0

    _parameter_constraints = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "image_shape": [None, "array-like"],
        "activation": [StrOptions({"relu", "tanh", "elu", "gelu"})],
        "likelihood": [StrOptions({"gaussian", "bernoulli"})],
        "beta": [Interval(Real, 0, None, closed="left")],
        "warmup_epochs": [Interval(Integral, 0, None, closed="left")],
        "min_variance": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_schedule": [StrOptions({"constant", "adaptive"})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "weight_averaging": [Interval(Real, 0, 1, closed="left")],
        "early_stopping": ["boolean"],
        "warm_start": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_mc_samples": [Interval(Integral, 1, None, closed="left")],
        "n_threads": [
            StrOptions({"auto"}),
            Interval(Integral, None, -1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # ------------------------------------------------------------------ fit
    @_keep_state_on_error
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the VAE by maximising the ELBO on ``X``.

        Training runs up to ``max_iter`` epochs of mini-batch Adam. With
        ``early_stopping=True`` (the default) a ``validation_fraction`` of the
        rows is held out, training stops when their ELBO stops improving and
        the best weights are restored. With ``warm_start=True`` a fitted model
        continues from its current weights, optimiser state and random
        generator. Ctrl-C (``KeyboardInterrupt``) stops training cleanly: the
        model trained so far (the best weights, with early stopping) is kept,
        with a warning.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. With ``likelihood="bernoulli"`` values must lie
            in [0, 1].
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, incremental=False)

    @_keep_state_on_error
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Run one epoch of training on ``X``: one pass in mini-batches.

        The first call initialises the network (its input standardisation is
        set from this first ``X``); each call then continues from the state
        the previous one left: weights, Adam's moments and step count, the KL
        warm-up position (one call counts as one epoch) and the random
        generator. No rows are held out and there is no stopping rule: the
        caller decides how many passes to make, e.g. over the chunks of a
        data set too large for memory.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A batch of training rows.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The estimator, trained for one more pass.

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import VAETransformer
        >>> X = np.random.RandomState(0).normal(size=(400, 5))
        >>> vae = VAETransformer(hidden_layer_sizes=(16,), random_state=0)
        >>> for epoch in range(3):
        ...     for chunk in np.array_split(X, 4):
        ...         vae = vae.partial_fit(chunk)
        >>> vae.n_iter_
        12
        """
        return self._fit(X, incremental=True)

    def _starts_afresh(self, incremental):
        """True when this call builds a new network instead of continuing one."""
        return not hasattr(self, "network_") or not (incremental or self.warm_start)

    def _fit(self, X, incremental):
        X = validate_data(
            self, X, dtype=[np.float64, np.float32], reset=self._starts_afresh(incremental)
        )
        self._check_value_range(X)
        return self._fit_validated(X, incremental)

    def _fit_validated(self, X, incremental=False):
        """Train on rows already checked by ``validate_data``; set the fitted state."""
        hidden_layer_sizes = self._check_hidden_layer_sizes()
        _check_float32_range(X)
        image_shape = self._check_image_shape(X.shape[1])
        rng = check_random_state(self.random_state)
        init_seed, training_seed = (int(seed) for seed in rng.randint(2**31 - 1, size=2))
        if incremental:
            train_rows, validation_rows = None, None
        else:
            train_rows, validation_rows = self._split_rows(X.shape[0], rng)
        # Without a validation split X is used as it is: no copy of the rows.
        X_fit = X if validation_rows is None else X[train_rows]
        spec = self._current_network_spec(hidden_layer_sizes, image_shape)
        if self._starts_afresh(incremental):
            self._initialize(X_fit, hidden_layer_sizes, image_shape, init_seed)
            self._reset_training_state(spec, training_seed)
        else:
            if not hasattr(self, "_generator_state"):  # loaded by skvae.load: weights only
                self._reset_training_state(spec, training_seed)
            self._check_network_unchanged(spec)
        # Resolved on every fit, so that set_params(n_threads=...) holds for warm starts too.
        self.n_threads_ = resolve_n_threads(
            self.n_threads, n_parameters=sum(p.numel() for p in self.network_.parameters())
        )
        device = self._device()
        callback_context = self._start_callbacks(X)
        with torch_threads(self.n_threads_):
            X_train = _as_tensor(X_fit, device)
            X_validation = None
            if validation_rows is not None:
                X_validation = _as_tensor(X[validation_rows], device)
            self._fit_epochs(X_train, X_validation, incremental, callback_context)
        if callback_context is not None:
            callback_context.call_on_fit_task_end(estimator=self, X=X)
        self.training_dtype_ = X.dtype
        return self

    def _initialize(self, X_fit, hidden_layer_sizes, image_shape, init_seed):
        """Build the network and reset the fitted curves and counters."""
        device = _resolve_device(self.device)
        generator = torch.Generator().manual_seed(init_seed)
        with torch_threads(None):
            network = self._build_network(X_fit, hidden_layer_sizes, generator, image_shape)
            network = network.to(device)
        self.network_ = network
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self.validation_scores_ = None
        self.best_validation_score_ = None
        self.best_loss_ = None

    def _reset_training_state(self, spec, training_seed):
        """Fresh optimiser, step size and generator for the network ``spec`` describes."""
        self._network_spec = spec
        self._optimizer_state = None
        self._training_weights = None  # the last iterate, when the model is an average
        self._averaging_updates = 0
        self._learning_rate = float(self.learning_rate)
        generator = torch.Generator(self._device()).manual_seed(training_seed)
        self._generator_state = generator.get_state()

    def _current_network_spec(self, hidden_layer_sizes, image_shape):
        return (
            self.latent_dim, hidden_layer_sizes, image_shape, self.activation, self.likelihood
        )

    def _check_network_unchanged(self, spec):
        if spec != self._network_spec:
            raise ValueError(
                "warm_start and partial_fit continue the fitted network, so latent_dim, "
                "hidden_layer_sizes, image_shape, activation and likelihood must not "
                "change; fit with warm_start=False to start afresh."
            )

    def _fit_epochs(self, X_train, X_validation, incremental, callback_context):
        """The epoch loop, as in scikit-learn's ``MLP._fit_stochastic``."""
        network = self.network_  # the model: the averaged weights with weight_averaging
        early_stopping = X_validation is not None
        trained, average = self._trained_network()
        optimizer = make_optimizer(trained.parameters(), self._learning_rate, self.weight_decay)
        if self._optimizer_state is not None:
            optimizer.load_state_dict(self._optimizer_state)
        generator = torch.Generator(X_train.device)
        if self._generator_state is None:  # a pickled GPU model, continued on the CPU
            generator.manual_seed(self._fallback_seed)
        else:
            generator.set_state(self._generator_state)
        batch_size = self._resolve_batch_size(X_train.shape[0])
        patience = self._patience(X_train.shape[0], batch_size)
        if not incremental:
            self._reset_stopping(early_stopping)
        validation_noise = None
        if early_stopping:
            n_draws = min(self.n_mc_samples, _VALIDATION_DRAWS)
            validation_noise = self._scoring_noise(X_train.device, n_draws)
        warmup_epochs = self.warmup_epochs
        if not incremental:  # clamped to the epochs this fit may run
            warmup_epochs = min(warmup_epochs, self.n_iter_ + self.max_iter)
        progress = EpochProgress(self.verbose, None if incremental else self.max_iter)
        converged = interrupted = False
        try:
            for _ in range(1 if incremental else self.max_iter):
                set_step_settings(optimizer, self._learning_rate, self.weight_decay)
                kl_weight = kl_weight_at(self.n_iter_, self.beta, warmup_epochs)
                loss = run_epoch(
                    trained,
                    X_train,
                    optimizer,
                    kl_weight,
                    batch_size,
                    generator,
                    self._trim_fraction(),
                    average,
                )
                self.n_iter_ += 1
                self.t_ += X_train.shape[0]
                self.loss_curve_.append(loss)
                score = None
                if early_stopping:
                    score = mean_elbo(network, X_validation, validation_noise)
                    self.validation_scores_.append(score)
                progress.update(self.n_iter_, loss, score)
                if incremental:
                    break
                in_warmup = self.n_iter_ < warmup_epochs
                converged = self._update_no_improvement_count(
                    early_stopping, in_warmup, trained, patience
                )
                converged |= self._epoch_callbacks(callback_context, loss, score)
                if converged:
                    progress.message(
                        f"Stopped after epoch {self.n_iter_}: no improvement of more than "
                        f"tol={self.tol} for {patience} epochs."
                    )
                    break
        except KeyboardInterrupt:
            interrupted = True
            warnings.warn("Training interrupted by the user; keeping the model trained so far.")
        finally:
            progress.close()
            optimizer.zero_grad(set_to_none=True)  # no gradients kept on the model
            self._optimizer_state = optimizer.state_dict()
            self._generator_state = generator.get_state()
            self._training_weights = None if average is None else copy_state(trained)
            if average is not None:
                self._averaging_updates = average.n_updates
        if early_stopping and self._best_state is not None:
            network.load_state_dict(self._best_state)
        network.eval()
        if not (incremental or converged or interrupted):
            warnings.warn(
                f"The VAE did not converge within max_iter={self.max_iter} epochs; "
                "consider raising max_iter.",
                ConvergenceWarning,
            )

    def _trained_network(self):
        """The network Adam updates, and the average of it kept as the model (or None).

        Without ``weight_averaging`` Adam updates ``network_`` itself. With
        it, ``network_`` holds the running average and Adam updates a copy
        holding the last iterate, which is kept between calls so that
        ``partial_fit`` and ``warm_start`` continue exactly.
        """
        if not self.weight_averaging:
            return self.network_, None
        trained = copy.deepcopy(self.network_)
        if self._training_weights is not None:
            trained.load_state_dict(self._training_weights)
        average = WeightAverage(
            trained, self.network_, self.weight_averaging, self._averaging_updates
        )
        return trained, average

    def _reset_stopping(self, early_stopping):
        """Fresh stopping bookkeeping at the start of every ``fit``."""
        self._no_improvement_count = 0
        self._learning_rate_cuts = 0
        self._improved_since_cut = True
        self._learning_rate = float(self.learning_rate)
        self._best_state = None
        if early_stopping:
            self.validation_scores_ = self.validation_scores_ or []
            self.best_validation_score_ = -np.inf
        else:
            self.best_loss_ = np.inf

    def _patience(self, n_train_rows, batch_size):
        """Epochs without improvement before a cut or a stop.

        ``n_iter_no_change``, raised where needed so that the wait spans at
        least ``_min_patience_steps`` Adam steps: with full batches an epoch
        is one step, and ten noisy steps cannot tell a plateau from slow
        progress (a linear VAE on nearly collinear data gains about 1e-4
        nats per step for hundreds of steps before its next descent).
        """
        steps_per_epoch = math.ceil(n_train_rows / min(batch_size, n_train_rows))
        return max(self.n_iter_no_change, math.ceil(self._min_patience_steps / steps_per_epoch))

    def _update_no_improvement_count(self, early_stopping, in_warmup, trained, patience):
        """Count epochs without a ``tol`` improvement; True when training should stop.

        The criterion is the validation ELBO with early stopping (whose best
        weights are kept) and the training loss otherwise, which is not
        compared while the KL weight still rises. After ``patience`` epochs
        without improvement (see ``_patience``), ``learning_rate_schedule=
        "adaptive"`` goes back to the best weights and divides the step size by
        ``_LEARNING_RATE_CUT``, up to ``_MAX_LEARNING_RATE_CUTS`` times,
        before stopping; a cut after which no epoch improved ends training
        (smaller steps from the same best weights would not do better, and
        on a model that has begun to overfit the extra epochs are wasted).
        ``trained`` is the network Adam updates (see ``_trained_network``);
        it goes back to the best weights too.
        """
        if early_stopping:
            score = self.validation_scores_[-1]
            improved = score > self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_state = copy_state(self.network_)
        else:
            if in_warmup:
                return False
            loss = self.loss_curve_[-1]
            improved = loss < self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, loss)
        self._no_improvement_count = 0 if improved or in_warmup else self._no_improvement_count + 1
        self._improved_since_cut |= improved
        if self._no_improvement_count <= patience:
            return False
        if (
            self.learning_rate_schedule == "adaptive"
            and self._learning_rate_cuts < _MAX_LEARNING_RATE_CUTS
            and self._improved_since_cut
        ):
            self._learning_rate_cuts += 1
            self._improved_since_cut = False
            self._learning_rate /= _LEARNING_RATE_CUT
            self._no_improvement_count = 0
            if self._best_state is not None:
                self.network_.load_state_dict(self._best_state)
                trained.load_state_dict(self._best_state)
            return False
        return True

    # ------------------------------------------------- scikit-learn callbacks
    def _start_callbacks(self, X):
        """The root context of scikit-learn's callback API (scikit-learn >= 1.9), or None."""
        if not hasattr(self, "_init_callback_context"):
            return None
        context = self._init_callback_context(max_subtasks=None)
        context.call_on_fit_task_begin(estimator=self, X=X)
        return context

    def _epoch_callbacks(self, context, loss, validation_score):
        """Report one epoch to scikit-learn's callbacks; True if one asks to stop."""
        if context is None:
            return False
        epoch = context.subcontext(task_name="epoch")
        metadata = {"loss": loss, "validation_score": validation_score}
        epoch.call_on_fit_task_begin(estimator=self, metadata=metadata)
        return bool(
            epoch.call_on_fit_task_end(
                estimator=self,
                metadata=metadata,
                reconstruction_attributes=lambda: {"network_": copy.deepcopy(self.network_)},
            )
        )

    def _resolve_batch_size(self, n_train_rows):
        """Rows per Adam step; a hook for subclasses that derive it from the data."""
        return self.batch_size

    def _trim_fraction(self):
        """Share of each batch left out of the loss; a hook for robust subclasses."""
        return 0.0

    def _check_hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if not all(isinstance(s, Integral) and s >= 1 for s in sizes):
            raise ValueError(
                "hidden_layer_sizes must be a sequence of positive integers, "
                f"got {self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _check_image_shape(self, n_features):
        """``image_shape`` as a tuple of 3 ints whose product is ``n_features``, or None."""
        shape = self.image_shape
        if shape is None:
            return None
        shape = tuple(shape)
        if len(shape) != 3 or not all(
            isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in shape
        ):
            raise ValueError(
                "image_shape must be None or (channels, height, width), three positive "
                f"integers; got {self.image_shape!r}."
            )
        shape = tuple(int(s) for s in shape)
        if math.prod(shape) != n_features:
            raise ValueError(
                f"image_shape={shape} describes images of {math.prod(shape)} values, but X "
                f"has {n_features} features; they must be equal."
            )
        return shape

    def _check_value_range(self, X):
        if self.likelihood == "bernoulli" and (X.min() < 0 or X.max() > 1):
            row, column = np.argwhere((X < 0) | (X > 1))[0]
            raise ValueError(
                "likelihood='bernoulli' needs every value of X in [0, 1]; "
                f"X[{row}, {column}] = {float(X[row, column])!r} is outside it (values "
                f"range over [{float(X.min())!r}, {float(X.max())!r}]). Scale the data "
                "(e.g. MinMaxScaler) or use likelihood='gaussian'."
            )

    def _check_representable(self, X):
        """Refuse values the fitted model cannot score in float32 arithmetic.

        A value more than ``_MAX_STANDARDIZED`` training standard deviations
        from its column's training mean (or beyond float32's range) raises a
        ValueError naming the row, the column and the value. Anything
        closer gives finite results.
        """
        shift = self.network_.input_shift.detach().cpu().double().numpy()
        scale = self.network_.input_scale.detach().cpu().double().numpy()
        low = np.maximum(shift - _MAX_STANDARDIZED * scale, -_FLOAT32_MAX)
        high = np.minimum(shift + _MAX_STANDARDIZED * scale, _FLOAT32_MAX)
        if X.shape[0] and (np.any(X.min(axis=0) < low) or np.any(X.max(axis=0) > high)):
            row, column = np.argwhere((X < low) | (X > high))[0]
            raise ValueError(
                f"X[{row}, {column}] = {float(X[row, column])!r} is beyond what the model "
                f"can represent: column {column} accepts values in [{low[column]:.6g}, "
                f"{high[column]:.6g}] ({_MAX_STANDARDIZED:g} training standard deviations "
                "from its training mean, within float32's range)."
            )

    def _split_rows(self, n_rows, rng):
        """Training and validation row indices (validation is None without early stopping)."""
        if not self.early_stopping:
            return np.arange(n_rows), None
        n_validation = int(math.ceil(self.validation_fraction * n_rows))
        if n_rows - n_validation < 1:
            raise ValueError(
                f"early_stopping needs at least 2 samples to hold out a validation "
                f"set; got n_samples={n_rows}. Pass early_stopping=False to fit on "
                "fewer rows."
            )
        order = rng.permutation(n_rows)
        return np.sort(order[n_validation:]), np.sort(order[:n_validation])

    def _empty_network(self, n_features, hidden_layer_sizes, image_shape=None):
        """The network these parameters describe, on the CPU, uninitialised.

        ``fit`` initialises it; ``skvae.load`` fills it with saved weights.
        """
        with torch.device("meta"):  # allocate once, fill in afterwards
            network = build_vae(
                n_features,
                self.latent_dim,
                hidden_layer_sizes,
                self.activation,
                self.likelihood,
                self.min_variance,
                image_shape,
            )
        return network.to_empty(device="cpu")

    def _build_network(self, X_train, hidden_layer_sizes, generator, image_shape=None):
        n_features = X_train.shape[1]
        network = self._empty_network(n_features, hidden_layer_sizes, image_shape)
        network.reset_parameters(generator)  # every parameter, or an error
        if self.likelihood == "gaussian":
            shift, scale = _column_mean_std(X_train)
            tiny = 10 * np.finfo(np.float32).eps * np.maximum(1.0, np.abs(shift))
            # Constant features: shift only, in units of 1, or of the float32
            # resolution of the value where that is coarser (|value| > 8e5),
            # so that the value itself is representable after the shift.
            constant = scale < tiny
            scale[constant] = np.maximum(1.0, tiny[constant])
        else:
            shift, scale = np.zeros(n_features), np.ones(n_features)
        network.input_shift.copy_(torch.from_numpy(shift))
        network.input_scale.copy_(torch.from_numpy(scale))
        return network

    # ----------------------------------------------------------- inference
    def _device(self):
        return next(self.network_.buffers()).device

    def _scoring_noise(self, device, n_draws=None):
        """The fixed latent draws of scoring: ``n_mc_samples`` of them unless ``n_draws``."""
        n_draws = self.n_mc_samples if n_draws is None else n_draws
        return common_random_numbers(n_draws, self.latent_dim, seed=_SCORING_SEED, device=device)

    def _chunk_rows(self, n_draws=1):
        widest = self.network_.activation_elements_per_row()
        return max(1, _CHUNK_ELEMENTS // (n_draws * widest))

    def _map_rows(self, X, compute, chunk_rows):
        """Apply ``compute`` (tensor -> tensor) to chunks of ``X``; numpy out, X's dtype.

        Every result is checked to be finite: a value the model's arithmetic
        cannot carry raises a ValueError naming the row instead of passing on
        an inf or NaN (the input checks make this unreachable for finite
        weights; it guards what they cannot foresee).
        """
        device = self._device()
        out = None
        with torch_threads(self.n_threads_), torch.inference_mode():
            for start in range(0, X.shape[0], chunk_rows):
                result = compute(_as_tensor(X[start : start + chunk_rows], device))
                if out is None:
                    out = np.empty((X.shape[0], *result.shape[1:]), dtype=X.dtype)
                out[start : start + chunk_rows] = result.cpu().numpy()
        if out is not None and not np.isfinite(out).all():
            row = np.argwhere(~np.isfinite(out.reshape(out.shape[0], -1)))[0, 0]
            raise ValueError(
                f"Row {row} of X gives a non-finite result in the model's float32 "
                "arithmetic: it lies beyond what this model can represent."
            )
        return out

    def _validate_for_inference(self, X):
        check_is_fitted(self)
        return validate_data(self, X, dtype=[np.float64, np.float32], reset=False)

    def _scoring_input(self, X):
        """Validated rows for the density scores; a hook for subclasses."""
        X = self._validate_for_inference(X)
        self._check_value_range(X)
        return X

    def score_samples(self, X):
        """Per-sample evidence lower bound (ELBO) on log p(x), in nats.

        Higher means more typical, as for ``PCA.score_samples`` and
        ``GaussianMixture.score_samples``; ``-score_samples(X)`` is the
        per-sample loss. The KL term always has weight 1, whatever ``beta``
        the model was trained with, so scores compare across ``beta`` and
        ``latent_dim``. The expectation over q(z|x) is exact for a linear
        Gaussian decoder and otherwise averages ``n_mc_samples`` fixed latent
        draws shared by every row, so the result is deterministic and does not
        depend on the order or subset of rows. The draws are moment-matched
        to N(0, I), which removes the fixed error a few raw draws would put
        on every row; :meth:`log_likelihood` gives a tighter estimate.

        Every finite value up to 1e12 training standard deviations from its
        column's training mean gets a finite score, lower the farther the
        row (the posterior log-variance is bounded smoothly); a value beyond
        that, or beyond float32's range, raises a ValueError naming it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Same dtype as ``X`` (float32 or float64).
        """
        X = self._scoring_input(X)
        self._check_representable(X)
        return self._score_prepared(X)

    def _score_prepared(self, X, per_feature=False):
        """ELBO of rows that went through :meth:`_scoring_input`: (n,) or (n, n_features)."""
        noise = self._scoring_noise(self._device())
        chunk_rows = max(_ROW_BLOCK, self._chunk_rows(self.n_mc_samples) // _ROW_BLOCK * _ROW_BLOCK)
        score = elbo_per_feature if per_feature else elbo
        return self._map_rows(X, _padded(lambda x: score(self.network_, x, noise)), chunk_rows)

    def score(self, X, y=None):
        """Mean per-sample ELBO of ``X``: higher is better, for model selection.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X), dtype=np.float64))

    def log_likelihood(self, X, n_importance_samples=100):
        """Importance-weighted estimate of log p(x) per sample (Burda et al., 2016).

        With ``n_importance_samples`` = K latent draws per row from q(z|x),
        ``log (1/K) sum_k p(x, z_k) / q(z_k | x)``. It is a lower bound on
        log p(x) in expectation, at least as tight as the ELBO, and rises
        towards log p(x) as K grows. Each row's K draws are a counter-based
        hash of that row's values (vectorised, no generator per row), so the
        result is deterministic and, bit for bit, does not depend on the other
        rows, their order or how many are scored at once, like
        :meth:`score_samples`; and the sampling errors of distinct rows are
        independent, so a mean over many rows is accurate even for small K.
        Finite for the same inputs as :meth:`score_samples`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_importance_samples : int, default=100
            K, the number of importance samples per row.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            Same dtype as ``X``.
        """
        if (
            isinstance(n_importance_samples, (bool, np.bool_))
            or not isinstance(n_importance_samples, Integral)
            or n_importance_samples < 1
        ):
            raise ValueError(
                f"n_importance_samples must be a positive integer, got {n_importance_samples!r}."
            )
        X = self._scoring_input(X)
        self._check_representable(X)
        chunk_draws = 64

        def compute(x):
            noise = row_keyed_normal_draws(x, n_importance_samples, self.latent_dim, _SCORING_SEED)
            return importance_weighted_bound(self.network_, x, noise, chunk_draws)

        # A chunk holds its rows' K draws besides the widest layer of 64 of them.
        chunk_rows = min(
            self._chunk_rows(min(chunk_draws, n_importance_samples)),
            max(1, _CHUNK_ELEMENTS // (n_importance_samples * self.latent_dim)),
        )
        chunk_rows = max(_ROW_BLOCK, chunk_rows // _ROW_BLOCK * _ROW_BLOCK)
        return self._map_rows(X, _padded(compute), chunk_rows)

    # ------------------------------------------------------- persistence
    def __getstate__(self):
        """Picklable state; a model on a GPU is saved as a CPU model.

        The training state goes with the weights (Adam's moments, the best
        and the last-iterate weights), so ``warm_start`` and ``partial_fit``
        continue on the CPU. A GPU random generator's state cannot seed a
        CPU generator: it is replaced by a seed drawn from it, and training
        continues reproducibly but not on the GPU's random stream.
        """
        state = super().__getstate__()
        network = state.get("network_")
        if network is None or _on_cpu(network):
            return state
        state = {**state, "network_": _copy_to_cpu(network)}
        for name in ("_optimizer_state", "_best_state", "_training_weights"):
            if state.get(name) is not None:
                state[name] = _tensors_to_cpu(state[name])
        if state.get("_generator_state") is not None:
            state["_fallback_seed"] = _seed_from_state(state["_generator_state"])
            state["_generator_state"] = None
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags


def _check_float32_range(X):
    """Refuse float64 values that float32, the training precision, cannot hold."""
    if X.dtype == np.float64 and X.size and max(X.max(), -X.min()) > _FLOAT32_MAX:
        row, column = np.argwhere(np.abs(X) > _FLOAT32_MAX)[0]
        raise ValueError(
            f"X[{row}, {column}] = {float(X[row, column])!r} is beyond float32's largest "
            f"value ({_FLOAT32_MAX:g}); skvae trains and scores in float32. Rescale "
            "this column."
        )


def _on_cpu(network):
    return next(network.buffers()).device.type == "cpu"


def _copy_to_cpu(network):
    return copy.deepcopy(network).to("cpu")


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
