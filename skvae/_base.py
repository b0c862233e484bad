"""The scikit-learn shell shared by every skvae estimator.

It validates parameters and input, converts numpy <-> torch, calls the
training and scoring code, and sets fitted attributes. The maths lives in
``_networks``, ``_likelihoods``, ``_objective`` and ``_training``.
"""

import copy
import functools
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

from ._networks import VAE, reset_parameters
from ._objective import (
    common_random_numbers,
    elbo,
    elbo_per_feature,
    importance_weighted_bound,
    row_keyed_normal_draws,
)
from ._threads import torch_threads
from ._training import train

# Inference works on chunks of rows holding about this many float values in
# the widest intermediate tensor, so memory does not grow with the rows.
_CHUNK_ELEMENTS = 2**22
_SCORING_SEED = 0
# Rows are scored in blocks of this many (the last one padded): float32 matrix
# kernels may round a row differently depending on how many rows share the
# call, and padding makes every row's score independent of the others.
_ROW_BLOCK = 64


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


class BaseVAE(BaseEstimator):
    """Parameters, fit and scoring shared by the VAE estimators."""

    _parameter_constraints = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"relu", "tanh", "elu", "gelu"})],
        "likelihood": [StrOptions({"gaussian", "bernoulli"})],
        "beta": [Interval(Real, 0, None, closed="left")],
        "warmup_epochs": [Interval(Integral, 0, None, closed="left")],
        "min_variance": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_mc_samples": [Interval(Integral, 1, None, closed="left")],
        "n_threads": [
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
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        self._check_value_range(X)
        return self._fit_validated(X)

    def _fit_validated(self, X):
        """Train on rows already checked by ``validate_data``; set the fitted state."""
        hidden_layer_sizes = self._check_hidden_layer_sizes()
        device = _resolve_device(self.device)
        rng = check_random_state(self.random_state)
        init_generator = torch.Generator().manual_seed(int(rng.randint(2**31 - 1)))
        train_generator = torch.Generator(device).manual_seed(int(rng.randint(2**31 - 1)))
        train_rows, validation_rows = self._split_rows(X.shape[0], rng)

        # Without a validation split X is used as it is: no copy of the rows.
        X_fit = X if validation_rows is None else X[train_rows]
        with torch_threads(self.n_threads):
            network = self._build_network(X_fit, hidden_layer_sizes, init_generator)
            network = network.to(device)
            X_train = _as_tensor(X_fit, device)
            X_validation, validation_noise = None, None
            if validation_rows is not None:
                X_validation = _as_tensor(X[validation_rows], device)
                validation_noise = self._scoring_noise(device)
            history = train(
                network,
                X_train,
                X_validation=X_validation,
                validation_noise=validation_noise,
                beta=self.beta,
                warmup_epochs=self.warmup_epochs,
                max_iter=self.max_iter,
                batch_size=self._resolve_batch_size(X_train.shape[0]),
                trim_fraction=self._trim_fraction(),
                learning_rate=self.learning_rate,
                tol=self.tol,
                n_iter_no_change=self.n_iter_no_change,
                generator=train_generator,
                verbose=self.verbose,
            )
        if not history.stopped_early:
            warnings.warn(
                f"The VAE did not converge within max_iter={self.max_iter} epochs; "
                "consider raising max_iter.",
                ConvergenceWarning,
            )
        self.network_ = network
        self.n_iter_ = history.n_iter
        self.loss_curve_ = history.loss_curve
        if validation_rows is not None:
            self.validation_scores_ = history.validation_scores
            self.best_validation_score_ = history.best_validation_score
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
        self._training_dtype = X.dtype
        return self

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

    def _check_value_range(self, X):
        if self.likelihood == "bernoulli" and (X.min() < 0 or X.max() > 1):
            raise ValueError(
                "likelihood='bernoulli' needs every value of X in [0, 1]; got values "
                f"in [{X.min():g}, {X.max():g}]. Scale the data (e.g. MinMaxScaler) "
                "or use likelihood='gaussian'."
            )

    def _split_rows(self, n_rows, rng):
        """Training and validation row indices (validation is None without early stopping)."""
        if not self.early_stopping:
            return np.arange(n_rows), None
        n_validation = int(math.ceil(self.validation_fraction * n_rows))
        if n_rows - n_validation < 1:
            raise ValueError(
                f"early_stopping needs at least 2 samples to hold out a validation "
                f"set; got n_samples={n_rows}."
            )
        order = rng.permutation(n_rows)
        return np.sort(order[n_validation:]), np.sort(order[:n_validation])

    def _build_network(self, X_train, hidden_layer_sizes, generator):
        n_features = X_train.shape[1]
        with torch.device("meta"):  # allocate once, initialise from our generator
            network = VAE(
                n_features,
                self.latent_dim,
                hidden_layer_sizes,
                self.activation,
                self.likelihood,
                self.min_variance,
            )
        network = network.to_empty(device="cpu")
        reset_parameters(network, generator)
        if self.likelihood == "gaussian":
            shift, scale = _column_mean_std(X_train)
            tiny = 10 * np.finfo(np.float32).eps * np.maximum(1.0, np.abs(shift))
            scale[scale < tiny] = 1.0  # constant features: shift only
        else:
            shift, scale = np.zeros(n_features), np.ones(n_features)
        network.input_shift.copy_(torch.from_numpy(shift))
        network.input_scale.copy_(torch.from_numpy(scale))
        return network

    # ----------------------------------------------------------- inference
    def _device(self):
        return next(self.network_.buffers()).device

    def _scoring_noise(self, device):
        return common_random_numbers(
            self.n_mc_samples, self.latent_dim, seed=_SCORING_SEED, device=device
        )

    def _chunk_rows(self, n_draws=1):
        widest = max(self.n_features_in_, self.latent_dim, *self.network_.hidden_widths)
        return max(1, _CHUNK_ELEMENTS // (n_draws * widest))

    def _map_rows(self, X, compute, chunk_rows):
        """Apply ``compute`` (tensor -> tensor) to chunks of ``X``; numpy out, X's dtype."""
        device = self._device()
        out = None
        with torch_threads(self.n_threads), torch.inference_mode():
            for start in range(0, X.shape[0], chunk_rows):
                result = compute(_as_tensor(X[start : start + chunk_rows], device))
                if out is None:
                    out = np.empty((X.shape[0], *result.shape[1:]), dtype=X.dtype)
                out[start : start + chunk_rows] = result.cpu().numpy()
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

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Same dtype as ``X`` (float32 or float64).
        """
        return self._score_prepared(self._scoring_input(X))

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
        towards log p(x) as K grows. Each row's K draws come from a generator
        seeded by a hash of that row, so the result is deterministic and does
        not depend on the other rows or their order, like
        :meth:`score_samples`; and the sampling errors of distinct rows are
        independent, so a mean over many rows is accurate even for small K.

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
        if not (isinstance(n_importance_samples, Integral) and n_importance_samples >= 1):
            raise ValueError(
                f"n_importance_samples must be a positive integer, got {n_importance_samples!r}."
            )
        X = self._scoring_input(X)
        chunk_draws = 64

        def compute(x):
            noise = row_keyed_normal_draws(x, n_importance_samples, self.latent_dim, _SCORING_SEED)
            return importance_weighted_bound(self.network_, x, noise, chunk_draws)

        # A chunk holds its rows' K draws besides the widest layer of 64 of them.
        chunk_rows = min(
            self._chunk_rows(min(chunk_draws, n_importance_samples)),
            max(1, _CHUNK_ELEMENTS // (n_importance_samples * self.latent_dim)),
        )
        return self._map_rows(X, compute, chunk_rows)

    # ------------------------------------------------------- persistence
    def __getstate__(self):
        state = super().__getstate__()
        network = state.get("network_")
        if network is not None and next(network.buffers()).device.type != "cpu":
            state = {**state, "network_": _copy_to_cpu(network)}
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags


def _copy_to_cpu(network):
    return copy.deepcopy(network).to("cpu")
