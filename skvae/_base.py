"""The scikit-learn shell shared by every skvae estimator.

It validates parameters and input, converts numpy <-> torch, runs the epoch
loop and scoring, and sets fitted attributes. The maths lives elsewhere: the
networks in ``_networks``, the likelihoods in ``_likelihoods`` (with the
numpy-side column description in ``_columns``), the prior in ``_priors``,
the objective in ``_objective``, the training step and state in
``_training``, and the chunked inference in ``_inference``. A subclass fills
small hooks (``_scoring_input``, ``_trim_fraction``, ``_resolve_batch_size``,
``_training_objective``), as in scikit-learn's ``mixture/_base.py``.
"""

import copy
import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _columns, _inference
from ._batch import Batch
from ._callbacks import CallbackSupportMixin, epoch_callbacks, start_callbacks
from ._checks import (
    check_float32_range,
    check_hidden_layer_sizes,
    check_image_shape,
    check_observed,
    split_rows,
)
from ._columns import BLOCKS, ColumnDescription
from ._tables import describe, to_numeric
from ._inference import padded, whole_blocks
from ._networks import build_vae
from ._objective import (
    common_random_numbers,
    elbo,
    elbo_per_feature,
    elbo_terms,
    importance_weighted_bound,
    row_keyed_normal_draws,
)
from ._progress import EpochProgress
from ._state import keep_state_on_error
from ._threads import resolve_n_threads, torch_threads
from ._warnings import PosteriorCollapseWarning, warn
from ._weight_decay import check_weight_decay_auto, fit_choosing_weight_decay
from ._training import (
    TermMeans,
    TrainingState,
    WeightAverage,
    copy_state,
    kl_weight_at,
    make_optimizer,
    mean_terms,
    run_epoch,
    set_step_settings,
)

_SCORING_SEED = 0
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
# A latent dimension whose mean KL term is below this many nats per row is
# unused: its posterior is the prior for every row. 0.05 nats is the KL of
# posterior means spread with a standard deviation of about 0.3 around 0.
_ACTIVE_KL = 0.05
_COLLAPSE_GRACE_EPOCHS = 100


def _resolve_device(device):
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested, but no CUDA GPU is available.")
    return torch.device(device)


class BaseVAE(CallbackSupportMixin, BaseEstimator):
    """Parameters, fit and scoring shared by the VAE estimators."""

    # Fewest Adam steps the stopping rule waits for an improvement (see
    # ``_patience``); 0 counts epochs only, as scikit-learn's MLP does.
    _min_patience_steps = 0
    # Whether fit warns when the fitted model uses no latent dimension.
    _warns_on_collapse = True

    _parameter_constraints = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "image_shape": [None, "array-like"],
        "activation": [StrOptions({"relu", "tanh", "elu", "gelu"})],
        "likelihood": [StrOptions(set(BLOCKS) | {"auto"}), dict],
        "count_size_factor": [None, StrOptions({"total"})],
        "beta": [Interval(Real, 0, None, closed="left")],
        "warmup_epochs": [Interval(Integral, 0, None, closed="left")],
        "min_variance": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_schedule": [StrOptions({"constant", "adaptive"})],
        "weight_decay": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
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
    @keep_state_on_error
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

        NaN marks a missing value (inf is an error): each row contributes
        the ELBO of its observed entries. When the training rows have
        missing values, the encoder reads the mask besides the values (it
        is twice as wide); on data without any the network is the same as
        ever. A feature with no observed value is left out (with a
        warning), and data with no observed value at all are refused.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Training data, NaN where a value is missing (in Gaussian and
            Bernoulli columns). A DataFrame may hold string, category and
            bool columns as they are (see ``likelihood``). Observed values
            must lie in their column's support: [0, 1] with
            ``likelihood="bernoulli"``, non-negative integers for counts,
            positive for ``"lognormal"``.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, incremental=False)

    @keep_state_on_error
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
        X, columns = self._validate_training_data(X, reset=self._starts_afresh(incremental))
        return self._fit_validated(X, incremental, columns)

    def _validate_training_data(self, X, reset=True):
        """The training rows as validated numbers, and their column description.

        With ``reset`` the description is built afresh from ``X`` and the
        ``likelihood`` parameter (tables: see ``_tables``), else it is the
        fitted one, which continues. NaN is a missing value, inf an error.
        Values outside a column's support are refused, naming the column.
        """
        columns = describe(X, self.likelihood) if reset else self._columns
        X = to_numeric(X, columns)  # categories -> codes, with errors naming the column
        X = validate_data(
            self, X, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan", reset=reset
        )
        check_observed(X)
        if columns is None:  # an input only validate_data could read
            columns = self._column_description(X.shape[1])
        columns.check_support(X)
        return X, columns

    def _fit_validated(self, X, incremental=False, columns=None):
        """Train on rows already checked by ``validate_data``; set the fitted state.

        ``columns`` is the column description of a fresh start (see
        ``_validate_training_data``); a continued fit keeps the fitted one,
        widening its training range to ``X``.
        """
        if self.weight_decay == "auto":
            afresh = self._starts_afresh(incremental)
            check_weight_decay_auto(self, incremental, afresh)
            if afresh:
                return fit_choosing_weight_decay(self, X, columns)
        hidden_layer_sizes = self._check_hidden_layer_sizes()
        check_float32_range(X)
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
        afresh = self._starts_afresh(incremental)
        if afresh:
            if columns is None:
                columns = self._column_description(X.shape[1])
            self._initialize(
                X_fit, hidden_layer_sizes, image_shape, init_seed, columns, incremental
            )
            self._columns.fit_range(X)
            self._training_state = self._new_training_state(spec, training_seed)
        else:
            if not hasattr(self, "_training_state"):  # loaded by skvae.load: weights only
                self._training_state = self._new_training_state(spec, training_seed)
            self._check_network_unchanged(spec)
        # Resolved on every fit, so that set_params(n_threads=...) holds for warm starts too.
        self.n_threads_ = resolve_n_threads(
            self.n_threads, n_parameters=sum(p.numel() for p in self.network_.parameters())
        )
        device = self._device()
        callback_context = start_callbacks(self, X)
        with torch_threads(self.n_threads_):
            train = self._columns.as_batch(X_fit).to_tensors(device)
            validation = None
            if validation_rows is not None:
                validation = self._columns.as_batch(X[validation_rows]).to_tensors(device)
            self._fit_epochs(train, validation, incremental, callback_context)
        if callback_context is not None:
            callback_context.call_on_fit_task_end(estimator=self, X=X)
        if not afresh:  # a new object, so that a failed fit puts back the old one
            self._columns = copy.copy(self._columns).fit_range(X, widen=True)
        self.training_dtype_ = X.dtype
        return self

    def _initialize(
        self, X_fit, hidden_layer_sizes, image_shape, init_seed, columns, incremental=False
    ):
        """Build the network for ``columns`` and reset the fitted curves and counters.

        ``incremental``: started by ``partial_fit``, whose first batch need
        not show every value a column takes.
        """
        device = _resolve_device(self.device)
        generator = torch.Generator().manual_seed(init_seed)
        with torch_threads(None):
            columns = columns.set_count_size_factor(self.count_size_factor).fit(X_fit)
            columns = columns.set_gaussian_variance(self._gaussian_variance())
            # A linear model is factor analysis: its encoder stays linear.
            linear = image_shape is None and not len(hidden_layer_sizes)
            columns.set_encoder_input_bound(None if linear else _columns.ENCODER_INPUT_BOUND)
            columns.set_constant_columns(not incremental)
            for hint in columns.hints(X_fit):
                warn(hint, UserWarning)
            network = self._empty_network(X_fit.shape[1], hidden_layer_sizes, image_shape, columns)
            network.reset_parameters(generator)  # every parameter, or an error
            columns.initialise(network.likelihood)
            network = network.to(device)
        if columns.empty_columns:
            warn(
                f"Features {self._feature_labels(columns.empty_columns)} have no observed "
                "value in the training data: the model learns nothing about them and "
                "leaves them out of every score, as if they were missing in every row.",
                UserWarning,
            )
        self._columns = columns
        self.network_ = network
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        for name, _ in self._PART_CURVES.values():
            setattr(self, name, [])
            setattr(self, "validation_" + name, None)
        self.validation_scores_ = None
        self.best_validation_score_ = None
        self.best_loss_ = None

    def _new_training_state(self, spec, training_seed):
        """Fresh optimiser, step size and generator for the network ``spec`` describes."""
        generator = torch.Generator(self._device()).manual_seed(training_seed)
        return TrainingState(
            network_spec=spec,
            generator_state=generator.get_state(),
            learning_rate=float(self.learning_rate),
        )

    def _weight_decay(self):
        """The decay of the steps: the number given, or the one "auto" chose (weight_decay_)."""
        return self.weight_decay_ if self.weight_decay == "auto" else self.weight_decay

    def _gaussian_variance(self):
        """How Gaussian and log-normal columns get their variance: "column" or "row"."""
        return "column"

    def _handle_unknown(self):
        """An unseen category after fit: "error", or "missing" to treat it as missing."""
        return "error"

    def _current_network_spec(self, hidden_layer_sizes, image_shape):
        spec = (
            self.latent_dim, hidden_layer_sizes, image_shape, self._activation(), self.likelihood
        )
        # Each appended only when set, so that the spec of other models (and of models
        # pickled before these options) is what it was.
        if self.count_size_factor is not None:
            spec = (*spec, ("count_size_factor", self.count_size_factor))
        if self._gaussian_variance() != "column":
            spec = (*spec, ("gaussian_variance", self._gaussian_variance()))
        return spec

    def _check_network_unchanged(self, spec):
        if spec != self._training_state.network_spec:
            raise ValueError(
                "warm_start and partial_fit continue the fitted network, so latent_dim, "
                "hidden_layer_sizes, image_shape, activation, likelihood, "
                "count_size_factor and gaussian_variance must not change; fit with "
                "warm_start=False to start afresh."
            )

    def _fit_epochs(self, train, validation, incremental, callback_context):
        """The epoch loop, as in scikit-learn's ``MLP._fit_stochastic``.

        ``train`` and ``validation`` are batches already on the training
        device (``validation`` is None without early stopping).
        """
        network = self.network_  # the model: the averaged weights with weight_averaging
        state = self._training_state
        early_stopping = validation is not None
        trained, average = self._trained_network()
        optimizer = make_optimizer(trained.parameters(), state.learning_rate, self._weight_decay())
        if state.optimizer_state is not None:
            optimizer.load_state_dict(state.optimizer_state)
        device = train.values.device
        generator = state.generator(device)
        objective = self._training_objective()
        batch_size = self._resolve_batch_size(train.n_rows)
        patience = self._patience(train.n_rows, batch_size)
        if not incremental:
            self._reset_stopping(early_stopping)
        validation_noise = None
        if early_stopping:
            n_draws = min(self.n_mc_samples, _VALIDATION_DRAWS)
            validation_noise = self._scoring_noise(device, n_draws)
        warmup_epochs = self.warmup_epochs
        if not incremental:  # clamped to the epochs this fit may run
            warmup_epochs = min(warmup_epochs, self.n_iter_ + self.max_iter)
        progress = EpochProgress(self.verbose, None if incremental else self.max_iter)
        converged = interrupted = False
        try:
            for _ in range(1 if incremental else self.max_iter):
                set_step_settings(optimizer, state.learning_rate, self._weight_decay())
                kl_weight = kl_weight_at(self.n_iter_, self.beta, warmup_epochs)
                parts = TermMeans()
                loss = run_epoch(
                    trained,
                    train,
                    optimizer,
                    kl_weight,
                    batch_size,
                    generator,
                    self._trim_fraction(),
                    average,
                    objective,
                    parts,
                )
                self.n_iter_ += 1
                self.t_ += train.n_rows
                self.loss_curve_.append(loss)
                training_parts = parts.means()
                self._record_parts("", training_parts)
                score, validation_parts = None, {}
                if early_stopping:
                    score, validation_parts = mean_terms(
                        network, validation, validation_noise, objective
                    )
                    self.validation_scores_.append(score)
                    self._record_parts("validation_", validation_parts)
                progress.update(
                    self.n_iter_,
                    loss,
                    score,
                    reconstruction=training_parts.get("reconstruction"),
                    kl=training_parts.get("kl"),
                )
                if incremental:
                    break
                in_warmup = self.n_iter_ < warmup_epochs
                converged = self._update_no_improvement_count(
                    early_stopping, in_warmup, trained, patience
                )
                converged |= epoch_callbacks(self, callback_context, loss, score)
                if converged:
                    progress.message(
                        f"Stopped after epoch {self.n_iter_}: no improvement of more than "
                        f"tol={self.tol} for {patience} epochs."
                    )
                    break
        except KeyboardInterrupt:
            interrupted = self._interrupted = True
            warn("Training interrupted by the user; keeping the model trained so far.")
        finally:
            progress.close()
            optimizer.zero_grad(set_to_none=True)  # no gradients kept on the model
            state.optimizer_state = optimizer.state_dict()
            state.generator_state = generator.get_state()
            state.training_weights = None if average is None else copy_state(trained)
            if average is not None:
                state.averaging_updates = average.n_updates
        if early_stopping and state.best_state is not None:
            network.load_state_dict(state.best_state)
        network.eval()
        self.kl_per_dimension_ = self._kl_per_dimension(
            network, validation if early_stopping else train, objective
        )
        # Within the KL warm-up an unused code is expected: no warning yet.
        past_warmup = self.n_iter_ > warmup_epochs
        if not (incremental or interrupted) and past_warmup and self._warns_on_collapse and (
            self._collapsed()
        ):
            warn(
                f"The fitted VAE uses none of its {self.latent_dim} latent dimensions: each "
                f"one's KL term is below {_ACTIVE_KL} nats per row (kl_per_dimension_), so "
                "the encoder ignores its input (posterior collapse) and transform carries "
                "no information. Either the fit stopped on a plateau (try another "
                "random_state, a larger n_iter_no_change or warmup_epochs, or a smaller "
                "beta), or the data have no dependence between features that a latent "
                "code can capture.",
                PosteriorCollapseWarning,
            )
        if not (incremental or converged or interrupted) and self._warns_at_max_iter():
            warn(
                f"The VAE did not converge within max_iter={self.max_iter} epochs; "
                "consider raising max_iter.",
                ConvergenceWarning,
            )

    # Fitted curves of the loss's parts, one entry per epoch, beside loss_curve_.
    _PART_CURVES = {
        "reconstruction": ("reconstruction_loss_curve_", -1.0),
        "kl": ("kl_curve_", 1.0),
        "kl_per_dimension": ("kl_per_dimension_curve_", 1.0),
    }

    def _record_parts(self, prefix, parts):
        """Append one epoch's mean parts to the curves named ``prefix + ...``."""
        for part, (name, sign) in self._PART_CURVES.items():
            if part not in parts:
                continue
            value = parts[part]
            value = [sign * v for v in value] if isinstance(value, list) else sign * value
            curve = getattr(self, prefix + name, None)
            if curve is None:  # a model loaded from an older file, or validation's first fit
                curve = []
                setattr(self, prefix + name, curve)
            curve.append(value)

    def _kl_per_dimension(self, network, batch, objective):
        """Mean KL per latent dimension of the fitted model on ``batch`` (at most 4096 rows).

        None when the objective gives no per-dimension KL.
        """
        batch = batch.rows(0, min(batch.n_rows, 4096))
        noise = self._scoring_noise(batch.values.device, min(self.n_mc_samples, _VALIDATION_DRAWS))
        parts = mean_terms(network, batch, noise, objective)[1]
        per_dimension = parts.get("kl_per_dimension")
        return None if per_dimension is None else np.asarray(per_dimension)

    def _epoch_collapsed(self, early_stopping):
        """True when the last epoch's model used no latent dimension (see ``_collapsed``)."""
        prefix = "validation_" if early_stopping else ""
        curve = getattr(self, prefix + "kl_per_dimension_curve_", None)
        return bool(curve) and bool(np.all(np.asarray(curve[-1]) < _ACTIVE_KL))

    def _collapsed(self):
        """True when no latent dimension carries information (see ``kl_per_dimension_``)."""
        per_dimension = getattr(self, "kl_per_dimension_", None)
        return per_dimension is not None and bool(np.all(per_dimension < _ACTIVE_KL))

    def _trained_network(self):
        """The network Adam updates, and the average of it kept as the model (or None).

        Without ``weight_averaging`` Adam updates ``network_`` itself. With
        it, ``network_`` holds the running average and Adam updates a copy
        holding the last iterate, which is kept between calls so that
        ``partial_fit`` and ``warm_start`` continue exactly.
        """
        if not self.weight_averaging:
            return self.network_, None
        state = self._training_state
        trained = copy.deepcopy(self.network_)
        if state.training_weights is not None:
            trained.load_state_dict(state.training_weights)
        average = WeightAverage(
            trained, self.network_, self.weight_averaging, state.averaging_updates
        )
        return trained, average

    def _reset_stopping(self, early_stopping):
        """Fresh stopping bookkeeping at the start of every ``fit``."""
        self._training_state.reset_stopping(self.learning_rate)
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
        state = self._training_state
        if early_stopping:
            score = self.validation_scores_[-1]
            improved = score > self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                state.best_state = copy_state(self.network_)
        else:
            if in_warmup:
                return False
            loss = self.loss_curve_[-1]
            improved = loss < self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, loss)
        # An epoch whose model uses no latent dimension (collapsed) does not
        # count as one without improvement, for at most _COLLAPSE_GRACE_EPOCHS:
        # such a model often starts to use its code after a long plateau.
        waiting = in_warmup
        if not improved and self._epoch_collapsed(early_stopping):
            state.collapsed_epochs += 1
            waiting |= state.collapsed_epochs <= _COLLAPSE_GRACE_EPOCHS
        state.no_improvement_count = (
            0 if improved or waiting else state.no_improvement_count + 1
        )
        state.improved_since_cut |= improved
        if state.no_improvement_count <= patience:
            return False
        if (
            self.learning_rate_schedule == "adaptive"
            and state.learning_rate_cuts < _MAX_LEARNING_RATE_CUTS
            and state.improved_since_cut
        ):
            state.learning_rate_cuts += 1
            state.improved_since_cut = False
            state.learning_rate /= _LEARNING_RATE_CUT
            state.no_improvement_count = 0
            if state.best_state is not None:
                self.network_.load_state_dict(state.best_state)
                trained.load_state_dict(state.best_state)
            return False
        return True

    def _resolve_batch_size(self, n_train_rows):
        """Rows per Adam step; a hook for subclasses that derive it from the data."""
        return self.batch_size

    def _trim_fraction(self):
        """Share of each batch left out of the loss; a hook for robust subclasses."""
        return 0.0

    def _warns_at_max_iter(self):
        """Whether stopping at ``max_iter`` deserves a ConvergenceWarning; a hook."""
        return True

    def _training_objective(self):
        """The per-row objective the loop maximises; a hook (the ELBO here).

        Called as ``objective(vae, batch, noise, kl_weight)``, it returns one
        value per row, or a dict with the value under ``"objective"`` and its
        parts (see ``_objective.elbo_terms``), which become fitted curves.
        """
        return elbo_terms

    def _feature_labels(self, columns):
        """The names of the features at ``columns`` (their indices without names)."""
        names = getattr(self, "feature_names_in_", None)
        return [str(names[c]) for c in columns] if names is not None else list(columns)

    def _check_hidden_layer_sizes(self):
        return check_hidden_layer_sizes(self.hidden_layer_sizes)

    def _check_image_shape(self, n_features):
        return check_image_shape(self.image_shape, n_features)

    def _column_description(self, n_features):
        """The columns of an array of ``n_features`` under a one-name ``likelihood``.

        Tables, dicts and ``"auto"`` are described from the data itself
        (``_tables.describe``, in :meth:`_validate_training_data`).
        """
        if not (isinstance(self.likelihood, str) and self.likelihood in BLOCKS):
            raise ValueError(
                f"likelihood={self.likelihood!r} is described from the training data; "
                "this model has no fitted column description."
            )
        return ColumnDescription.from_likelihood(self.likelihood, n_features)

    def _check_value_range(self, X):
        """Refuse values outside their column's support, naming the first one."""
        self._columns.check_support(X)

    def _check_representable(self, X):
        """Refuse values the fitted model cannot score (see ``ColumnDescription``)."""
        self._columns.check_representable(X)

    def _split_rows(self, n_rows, rng):
        """Training and validation row indices (validation is None without early stopping)."""
        if not self.early_stopping:
            return np.arange(n_rows), None
        return split_rows(n_rows, self.validation_fraction, rng)

    def _empty_network(self, n_features, hidden_layer_sizes, image_shape=None, columns=None):
        """The network these parameters describe, on the CPU, uninitialised.

        ``fit`` initialises it; ``skvae.load`` fills it with saved weights.
        """
        if columns is None:
            columns = self._column_description(n_features)
        with torch.device("meta"):  # allocate once, fill in afterwards
            network = build_vae(
                n_features,
                self.latent_dim,
                hidden_layer_sizes,
                self._activation(),
                columns.build_likelihood(self.min_variance),
                self.min_variance,
                image_shape,
                encode_mask=columns.encode_mask,
                missingness=self._missingness_model(columns),
            )
        return network.to_empty(device="cpu")

    def _activation(self):
        """The activation the networks use: ``activation``; a hook for an "auto" choice."""
        return self.activation

    def _missingness_model(self, columns):
        """The network's model of the mask, p(s | x); a hook (None: ignorable)."""
        return None

    # ----------------------------------------------------------- inference
    def _device(self):
        return next(self.network_.parameters()).device

    def _scoring_noise(self, device, n_draws=None):
        """The fixed latent draws of scoring: ``n_mc_samples`` of them unless ``n_draws``."""
        n_draws = self.n_mc_samples if n_draws is None else n_draws
        return common_random_numbers(n_draws, self.latent_dim, seed=_SCORING_SEED, device=device)

    def _chunk_rows(self, n_draws=1):
        """Rows per inference chunk when each row carries ``n_draws`` latent draws."""
        return _inference.chunk_rows(n_draws * self.network_.activation_elements_per_row())

    def _map_rows(self, X, compute, chunk_rows):
        """Apply ``compute`` (tensor batch -> tensor) to chunks of ``X``; numpy out, X's dtype.

        ``X`` is an array (NaN where a value is missing) or a
        :class:`~skvae._batch.Batch` of arrays. Every result is checked to
        be finite (see ``_inference.map_rows``): the input checks make a
        non-finite result unreachable for finite weights; the check guards
        what they cannot foresee.
        """
        if not isinstance(X, Batch):
            X = self._columns.as_batch(X)
        dtype = X.values.dtype
        with torch_threads(self.n_threads_), torch.inference_mode():
            return _inference.map_rows(X, compute, chunk_rows, self._device(), dtype)

    def _latent_quantiles(self, probabilities):
        """The prior's marginal quantiles at ``probabilities`` (float64 numpy)."""
        p = torch.as_tensor(np.asarray(probabilities, dtype=np.float64))
        return self.network_.prior.quantile(p).numpy()

    def _validate_for_inference(self, X):
        """Validated rows for a fitted model: NaN is a missing value, inf an error."""
        check_is_fitted(self)
        # categories -> codes, with errors naming the column
        X = to_numeric(X, self._columns, self._handle_unknown())
        return validate_data(
            self, X, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan", reset=False
        )

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

        NaN marks a missing value. A row with missing values is scored on
        its observed entries alone: the score is a lower bound on the
        marginal density ``log p(x_observed)`` of those entries (the
        missing ones integrated out), and a row with nothing observed
        scores ``-KL``, a bound on log 1 = 0. Densities of different
        numbers of entries are not on one scale (a row with fewer observed
        entries has fewer terms), so to rank rows with different holes
        divide by the number of observed entries,
        ``score_samples(X) / (~np.isnan(X)).sum(axis=1)``: a score per
        observed entry (:class:`VAEOutlierDetector` ranks on such a scale).
        Features with no observed value in training are always treated as
        missing.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN where a value is missing.

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
        chunk_rows = whole_blocks(self._chunk_rows(self.n_mc_samples))
        score = elbo_per_feature if per_feature else elbo
        compute = padded(lambda batch: score(self.network_, batch, noise))
        return self._map_rows(X, compute, chunk_rows)

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
        Finite for the same inputs as :meth:`score_samples`. With missing
        values (NaN) it estimates ``log p(x_observed)``, as
        :meth:`score_samples` bounds it.

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

        def compute(batch):
            noise = row_keyed_normal_draws(
                batch.values, n_importance_samples, self.latent_dim, _SCORING_SEED
            )
            return importance_weighted_bound(self.network_, batch, noise, chunk_draws)

        # A chunk holds its rows' K draws besides the widest layer of 64 of them.
        chunk_rows = min(
            self._chunk_rows(min(chunk_draws, n_importance_samples)),
            _inference.chunk_rows(n_importance_samples * self.latent_dim),
        )
        return self._map_rows(X, padded(compute), whole_blocks(chunk_rows))

    # ------------------------------------------------------- persistence
    def __getstate__(self):
        """Picklable state; a model on a GPU is saved as a CPU model.

        The training state goes with the weights (Adam's moments, the best
        and the last-iterate weights), so ``warm_start`` and ``partial_fit``
        continue on the CPU (see ``TrainingState.to_cpu``).
        """
        state = super().__getstate__()
        network = state.get("network_")
        if network is None or _on_cpu(network):
            return state
        state = {**state, "network_": _copy_to_cpu(network)}
        if state.get("_training_state") is not None:
            state["_training_state"] = state["_training_state"].to_cpu()
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN marks a missing value
        tags.non_deterministic = False
        return tags


def _on_cpu(network):
    return next(network.parameters()).device.type == "cpu"


def _copy_to_cpu(network):
    return copy.deepcopy(network).to("cpu")
