"""VAEImputer: missing values filled in by a VAE trained on the incomplete data (MIWAE)."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._missing import is_scalar_nan
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from . import _inference
from ._base import _SCORING_SEED, BaseVAE
from ._checks import check_observed
from ._conditional import conditional_mean, conditional_sample, noise_width
from ._inference import padded, whole_blocks
from ._missingness import SelfMaskingMissingness
from ._objective import (
    ImportanceWeightedObjective,
    SelfMaskingObjective,
    elbo_terms,
    row_keyed_normal_draws,
)
from ._tables import describe, from_numeric, pandas_index, to_numeric


class VAEImputer(TransformerMixin, BaseVAE):
    """Imputation of missing values with a variational autoencoder (MIWAE).

    A VAE is fitted to the incomplete rows themselves, each contributing the
    ELBO of its observed entries (the encoder reads the values, 0 where one
    is missing, and the mask), as in MIWAE (Mattei & Frellsen, 2019).
    ``transform`` then fills each missing entry with its conditional mean
    given the observed ones, estimated by self-normalised importance
    sampling: ``n_importance_samples`` latent draws from q(z | x_observed),
    weighted by p(x_observed, z) / q(z | x_observed), average the decoder's
    means. With ``sample_posterior=True`` it draws instead, by sampling
    importance resampling (one of the draws per row by its weight, then x
    from p(x | z)), so that :meth:`sample_imputations` or repeated
    transforms give multiple imputations.

    The conventions are scikit-learn's imputers' (``SimpleImputer``,
    ``IterativeImputer``): ``missing_values``, ``add_indicator``,
    ``keep_empty_features``, ``sample_posterior``; the model and training
    parameters are :class:`VAETransformer`'s.

    Parameters
    ----------
    latent_dim : int, default=8
        Dimension of the latent space. A code much smaller than the number
        of features summarises the dependences between them; too small a
        code leaves some of them out.
    missing_values : float or np.nan, default=np.nan
        The placeholder of a missing value. With a number other than NaN,
        entries equal to it are missing and a NaN in X is an error.
    add_indicator : bool, default=False
        Append a binary indicator per feature that had missing values in
        the training data (as ``SimpleImputer(add_indicator=True)``: 1 where
        the value was missing).
    keep_empty_features : bool, default=False
        Keep the features with no observed value in the training data in
        the output, with their missing values set to 0, instead of dropping
        them (scikit-learn's convention). The model learns nothing about them
        either way.
    sample_posterior : bool, default=False
        Draw each missing value from the model's p(x_missing | x_observed)
        (sampling importance resampling) instead of its conditional mean.
        The draws are seeded by ``random_state``: an integer gives the same
        draws on every call; use :meth:`sample_imputations` for several.
    n_importance_samples : int, default=100
        K, the latent draws per row that estimate the conditional
        distribution. More draws estimate it better, at proportional cost.
    n_train_importance_samples : int, default=5
        K of the training objective: 1 trains on the ELBO of the observed
        entries (with its closed-form parts), K > 1 on the importance-weighted
        bound of Burda et al. (2016) with K draws per row, as MIWAE does
        (K = 20 there), at a higher cost per epoch (about twice the ELBO's
        for K = 5 on these small networks). Chosen with ``max_iter`` and
        ``early_stopping`` by ``benchmarks/tune_impute.py`` on validation
        masks (50% MCAR) of ``load_wine`` and ``load_breast_cancer``: mean
        squared errors 0.626 and 0.308 against 0.844 and 0.344 for the
        former defaults (K = 1, early stopping, up to 1,000 epochs), and
        0.631 and 0.315 for K = 20.
    missing_mechanism : {"ignorable", "self_masking"}, default="ignorable"
        How values went missing. ``"ignorable"`` fits the observed values
        alone, which is right when they are missing at random (MAR: the
        chance that a value is missing may depend on the row's observed
        values, not on the missing value itself). ``"self_masking"`` is for
        values missing not at random, where each column's chance of being
        missing depends on its own value (large incomes left blank, readings
        above a sensor's range): a logistic model of each column's mask on
        its value, P(missing) = sigmoid(w_j x_j + b_j), is fitted with the
        VAE on the joint of the observed values and the mask, and the
        imputations account for it (not-MIWAE; Ipsen, Mattei & Frellsen,
        2021). It needs the Gaussian likelihood for every column. When
        values are in fact missing at random it is no better, and can be
        worse, than ``"ignorable"`` (the benchmark's MCAR rows measure it).
        ``score_samples`` and ``score`` stay the bound on
        log p(x_observed) under either mechanism, without the mask's term,
        so that they compare across the two.
    hidden_layer_sizes : array-like of int, default=(128, 64)
        Widths of the encoder's hidden layers; the decoder mirrors them.
    image_shape : tuple of 3 int or None, default=None
        ``(channels, height, width)`` of images given as flat rows, for
        convolutional networks (see :class:`VAETransformer`); the encoder
        then reads the mask as extra channels.
    activation : {"auto", "relu", "tanh", "elu", "gelu"}, default="auto"
        Activation between hidden layers. ``"auto"`` is ``"relu"``, except
        under ``missing_mechanism="self_masking"``, where it is ``"tanh"``:
        with ReLU networks the self-masking model's imputations were erratic
        on the MNAR validation masks (seeds 100 and 101 of
        ``benchmarks/bench_impute.py``'s mechanism on wine, breast cancer and
        diabetes): a mean MSE of 3.65 over the six, against 1.02 with tanh.
    likelihood : str, dict or "auto", default="gaussian"
        Decoder distribution, as in :class:`VAETransformer`: one name for
        every column (``"gaussian"``, ``"bernoulli"``, ``"lognormal"``,
        ``"categorical"``, ``"poisson"``, ``"negative_binomial"``), a dict
        from column to name, or ``"auto"`` to follow a DataFrame's dtypes.
        ``"bernoulli"`` needs observed values in [0, 1] and imputes
        probabilities (or, with ``sample_posterior``, draws in {0, 1}); a
        categorical column gets its most probable category (or a draw).
        Fitted on a DataFrame with category, string, boolean or integer
        columns, ``transform`` gives back a DataFrame of the training
        dtypes, with the missing categories filled in.
    count_size_factor : {None, "total"}, default=None
        ``"total"`` scales each row's count means by its size factor, as
        scVI uses library size: for the ``"poisson"`` and
        ``"negative_binomial"`` columns the decoder's log-mean gains
        ``log(L) - mean(log L_train)``, where ``L`` is the row's observed
        total over the columns of that likelihood (at least 1), so that the
        latent code models the composition of the counts (e.g. gene
        expression) and not the sequencing depth of the row. Rows that are
        generated rather than given take their library from the normal fit
        to the training rows' ``log L``, and decoder means without a row are
        at the typical library, the geometric mean of the training totals.
        Needs at least one count column. None models the counts as they are.
    beta : float, default=1.0
        Weight of the KL term during training.
    warmup_epochs : int, default=10
        Epochs of linear KL warm-up.
    min_variance : float, default=1e-4
        Floor of the Gaussian decoder's variance, in units of each
        feature's variance; a feature constant in training gets its value as
        mean and the floor as variance, as in :class:`VAETransformer`.
    max_iter : int, default=500
        Maximum number of epochs; without early stopping, the number of
        epochs (training stops earlier only when the training loss stops
        improving by ``tol`` for ``n_iter_no_change`` epochs). A fixed
        budget, as MIWAE trains: with early stopping the ELBO of held-out
        rows stopped some fits after about 100 epochs while their imputations
        still improved, and 1,000 epochs imputed worse than 500 on the
        validation masks (0.661 against 0.626 on ``load_wine``, 0.333
        against 0.313 on the one ``load_breast_cancer`` mask it ran on).
    batch_size : int, default=128
        Rows per Adam step.
    learning_rate : float, default=1e-3
        Adam's initial step size.
    learning_rate_schedule : {"constant", "adaptive"}, default="adaptive"
        As in :class:`VAETransformer`.
    weight_decay : float or "auto", default=0.0
        Decoupled weight decay (AdamW); ``"auto"`` chooses it on the
        validation rows of ``early_stopping=True``, as in
        :class:`VAETransformer`.
    weight_averaging : float in [0, 1), default=0.99
        Decay of the moving average of the weights kept as the model.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop when the ELBO
        of their observed entries stops improving. Off by default (see
        ``max_iter``); worth turning on for large data, where ``max_iter``
        epochs cost more than needed.
    validation_fraction : float, default=0.1
        Share of rows held out when ``early_stopping=True``.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before stopping
        (at least 100 Adam steps).
    tol : float, default=1e-4
        Improvement (nats per sample) that counts as progress.
    n_mc_samples : int, default=16
        Fixed latent draws of :meth:`score_samples`.
    n_threads : "auto", int or None, default="auto"
        CPU threads PyTorch uses, as in :class:`VAETransformer`.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to train.
    warm_start : bool, default=False
        When True, ``fit`` continues the fitted model.
    random_state : int, RandomState instance or None, default=None
        Seeds training and, with ``sample_posterior=True``, the draws.
    verbose : int, default=0
        0 prints nothing; 1 a progress bar; 2 a line per epoch.

    Attributes
    ----------
    indicator_features_ : ndarray of int
        Features with missing values in the training data (of the first
        call, with ``partial_fit``): the columns of the indicator that
        ``add_indicator=True`` appends.
    network_ : torch.nn.Module
        The trained VAE.
    n_iter_ : int
        Number of epochs run.
    loss_curve_ : list of float
        Training loss after each epoch.
    validation_scores_ : list of float or None
        Mean validation ELBO (of the observed entries) after each epoch.
    best_validation_score_ : float or None
        Best of ``validation_scores_``.
    weight_decay_ : float
        The decay chosen by ``weight_decay="auto"``; only with ``"auto"``.
    weight_decay_scores_ : ndarray of shape (5,)
        With ``weight_decay="auto"``: the best validation ELBO of each
        candidate decay, as in :class:`VAETransformer`.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during fit, when they are all strings.

    See Also
    --------
    sklearn.impute.SimpleImputer : Per-feature statistics.
    sklearn.impute.KNNImputer : Means of the nearest rows.
    sklearn.impute.IterativeImputer : Each feature regressed on the others in turn.

    Notes
    -----
    A model fitted on complete rows imputes too; its encoder, which never
    saw a mask, reads a missing value as the training mean. A row with
    nothing observed gets the model's marginal mean, and a feature never
    observed in training is dropped (or 0, see ``keep_empty_features``).
    The draws of the single imputation are a hash of each row's values, as
    for :meth:`log_likelihood`: a row's imputation does not depend on the
    other rows, and ``transform`` is deterministic.

    Measured imputation errors against scikit-learn's imputers and
    hyperimpute's missForest, MIWAE and HyperImpute, with MIWAE's protocol
    (five masks, MCAR 50% and 20%, not-MIWAE's MNAR), are in
    ``benchmarks/results/impute_breast_cancer.md`` (``bench_impute.py`` and
    ``bench_impute_peers.py``). On that data set, whose features are close
    to linear functions of each other, HyperImpute and MIWAE (Student-t
    decoder) do better at 50% MCAR, ``IterativeImputer``'s linear
    regressions at 20%, and under the MNAR mask (values above the mean
    missing) ``IterativeImputer`` extrapolates far better than any of the
    latent-variable models, which fill in towards the observed values.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skvae import VAEImputer
    >>> X = StandardScaler().fit_transform(load_wine().data)
    >>> rng = np.random.RandomState(0)
    >>> X_missing = np.where(rng.uniform(size=X.shape) < 0.2, np.nan, X)
    >>> imputer = VAEImputer(max_iter=50, random_state=0)
    >>> X_filled = imputer.fit_transform(X_missing)
    >>> bool(np.isnan(X_filled).any())
    False
    >>> draws = imputer.sample_imputations(X_missing, n_imputations=3, random_state=0)
    >>> len(draws), draws[0].shape
    (3, (178, 13))
    """

    _min_patience_steps = 100

    _parameter_constraints = {
        **BaseVAE._parameter_constraints,
        "missing_values": [Real],
        "add_indicator": ["boolean"],
        "keep_empty_features": ["boolean"],
        "sample_posterior": ["boolean"],
        "n_importance_samples": [Interval(Integral, 1, None, closed="left")],
        "n_train_importance_samples": [Interval(Integral, 1, None, closed="left")],
        "missing_mechanism": [StrOptions({"ignorable", "self_masking"})],
        "activation": [StrOptions({"auto", "relu", "tanh", "elu", "gelu"})],
    }

    def __init__(
        self,
        latent_dim=8,
        *,
        missing_values=np.nan,
        add_indicator=False,
        keep_empty_features=False,
        sample_posterior=False,
        n_importance_samples=100,
        n_train_importance_samples=5,
        missing_mechanism="ignorable",
        hidden_layer_sizes=(128, 64),
        image_shape=None,
        activation="auto",
        likelihood="gaussian",
        count_size_factor=None,
        beta=1.0,
        warmup_epochs=10,
        min_variance=1e-4,
        max_iter=500,
        batch_size=128,
        learning_rate=1e-3,
        learning_rate_schedule="adaptive",
        weight_decay=0.0,
        weight_averaging=0.99,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        n_mc_samples=16,
        n_threads="auto",
        device="auto",
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.latent_dim = latent_dim
        self.missing_values = missing_values
        self.add_indicator = add_indicator
        self.keep_empty_features = keep_empty_features
        self.sample_posterior = sample_posterior
        self.n_importance_samples = n_importance_samples
        self.n_train_importance_samples = n_train_importance_samples
        self.missing_mechanism = missing_mechanism
        self.hidden_layer_sizes = hidden_layer_sizes
        self.image_shape = image_shape
        self.activation = activation
        self.likelihood = likelihood
        self.count_size_factor = count_size_factor
        self.beta = beta
        self.warmup_epochs = warmup_epochs
        self.min_variance = min_variance
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.weight_decay = weight_decay
        self.weight_averaging = weight_averaging
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.n_mc_samples = n_mc_samples
        self.n_threads = n_threads
        self.device = device
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    def _warns_at_max_iter(self):
        """Only with early stopping: without it, max_iter epochs is the training budget."""
        return self.early_stopping

    def _training_objective(self):
        """The ELBO with one draw, or the importance-weighted bound with K > 1 (MIWAE's).

        With ``missing_mechanism="self_masking"``, not-MIWAE's bound on
        log p(x_observed, s) with K draws (K = 1 included).
        """
        if self.missing_mechanism == "self_masking":
            return SelfMaskingObjective(self.n_train_importance_samples)
        if self.n_train_importance_samples == 1:
            return elbo_terms
        return ImportanceWeightedObjective(self.n_train_importance_samples)

    def _activation(self):
        """``activation``; "auto" is "tanh" under the self-masking model, "relu" otherwise."""
        if self.activation != "auto":
            return self.activation
        return "tanh" if self.missing_mechanism == "self_masking" else "relu"

    def _missingness_model(self, columns):
        """p(s | x) for ``missing_mechanism="self_masking"``: one Gaussian block needed."""
        if self.missing_mechanism != "self_masking":
            return None
        names = columns.likelihood_names()
        for column, name in enumerate(names):
            if name != "gaussian":
                label = self._feature_labels([column])[0]
                raise ValueError(
                    f"missing_mechanism='self_masking' needs the Gaussian likelihood for "
                    f"every column, but column {label!r} has likelihood {name!r}; use "
                    "likelihood='gaussian' (numeric columns) or "
                    "missing_mechanism='ignorable'."
                )
        return SelfMaskingMissingness(columns.n_columns)

    # ------------------------------------------------------------ input
    def _validated(self, X, reset):
        """``validate_data``, with the entries equal to ``missing_values`` turned to NaN.

        A DataFrame's categories become their codes first (missing ones NaN),
        by the column description: built from ``X`` with ``reset``, the
        fitted one otherwise. Returns the rows and the description (None
        for an input only ``validate_data`` can read).
        """
        columns = describe(X, self.likelihood) if reset else self._columns
        X = to_numeric(X, columns)  # categories -> codes, with errors naming the column
        nan_is_missing = is_scalar_nan(self.missing_values)
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan" if nan_is_missing else True,
            reset=reset,
        )
        if not nan_is_missing:
            X = np.where(X == self.missing_values, X.dtype.type(np.nan), X)
        return X, columns

    def _validate_training_data(self, X, reset=True):
        """The training rows (NaN where missing) and their column description."""
        X, columns = self._validated(X, reset)
        check_observed(X)
        if columns is None:
            columns = self._column_description(X.shape[1])
        columns.check_support(X)
        return X, columns

    def _validate_for_inference(self, X):
        check_is_fitted(self)
        return self._validated(X, reset=False)[0]

    def _fit(self, X, incremental):
        afresh = self._starts_afresh(incremental)
        X, columns = self._validate_training_data(X, reset=afresh)
        self._fit_validated(X, incremental, columns)
        if afresh or not hasattr(self, "indicator_features_"):
            self.indicator_features_ = np.flatnonzero(np.isnan(X).any(axis=0))
        return self

    # -------------------------------------------------------- transform
    def transform(self, X):
        """Fill in the missing values of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows with missing values (``missing_values``, NaN by default).

        Returns
        -------
        X_imputed : ndarray or DataFrame of shape (n_samples, n_features_out)
            ``X`` with every missing value filled in (a DataFrame of the
            training dtypes for a model fitted on a table): the observed values
            unchanged, the missing ones by their conditional mean (or a draw,
            with ``sample_posterior=True``). Features with no observed value
            in training are dropped unless ``keep_empty_features``; with
            ``add_indicator`` the missing indicator follows. Same dtype as
            ``X``.
        """
        index = pandas_index(X)
        X = self._scoring_input(X)
        generator = None
        if self.sample_posterior:
            generator = self._generator(check_random_state(self.random_state))
        return self._output(X, self._impute(X, generator), index)

    def sample_imputations(self, X, n_imputations=5, *, random_state=None):
        """Draw ``n_imputations`` completed versions of ``X`` for multiple imputation.

        Each is :meth:`transform` with ``sample_posterior=True``: every
        missing value drawn from the model's p(x_missing | x_observed) by
        sampling importance resampling, with draws independent between the
        imputations. Analyse each completed data set and pool the results
        (Rubin's rules). The draws come from one fitted model, so they do not
        carry the uncertainty of its weights; fitting with several
        ``random_state`` values adds that.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_imputations : int, default=5
            Number of completed data sets.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; an integer makes them reproducible.

        Returns
        -------
        imputations : list of ndarray of shape (n_samples, n_features_out)
        """
        if (
            isinstance(n_imputations, (bool, np.bool_))
            or not isinstance(n_imputations, Integral)
            or n_imputations < 1
        ):
            raise ValueError(f"n_imputations must be a positive integer, got {n_imputations!r}.")
        index = pandas_index(X)
        X = self._scoring_input(X)
        rng = check_random_state(random_state)
        return [
            self._output(X, self._impute(X, self._generator(rng)), index)
            for _ in range(n_imputations)
        ]

    def _generator(self, rng):
        seed = int(rng.randint(2**31 - 1))
        return torch.Generator(self._device()).manual_seed(seed)

    def _scoring_input(self, X):
        X = self._validate_for_inference(X)
        self._check_value_range(X)
        self._check_representable(X)
        return X

    def _impute(self, X, generator=None):
        """``X`` with its missing values filled in by the model: (n_samples, n_features)."""
        return fill_in(self, X, self.n_importance_samples, generator)

    def _output(self, X, imputed, index=None):
        """The imputed rows in the output layout: empty features, then the indicator.

        A model fitted on a table (a DataFrame with categorical, boolean or
        integer columns) gives back a DataFrame of the training columns and
        dtypes, categories and all, when the layout is the input's (no
        indicator, no dropped empty feature); numbers otherwise.
        """
        empty = self._columns.empty_columns
        if empty and self.keep_empty_features:
            imputed[:, empty] = np.where(np.isnan(X[:, empty]), 0, X[:, empty])
        same_layout = not self.add_indicator and (not empty or self.keep_empty_features)
        if same_layout and _is_table(self._columns):
            return from_numeric(imputed, self._columns, index)
        if empty and not self.keep_empty_features:
            imputed = np.delete(imputed, empty, axis=1)
        if self.add_indicator:
            indicator = np.isnan(X[:, self.indicator_features_]).astype(X.dtype)
            imputed = np.hstack([imputed, indicator])
        return imputed

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: the kept input features, then the indicator's.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; ``feature_names_in_`` (or ``x0, x1, ...``)
            when None.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        names = _check_feature_names_in(self, input_features)
        kept = names
        if not self.keep_empty_features:
            kept = np.delete(names, self._columns.empty_columns)
        if self.add_indicator:
            indicator = [f"missingindicator_{names[j]}" for j in self.indicator_features_]
            kept = np.concatenate([kept, np.asarray(indicator, dtype=object)])
        return np.asarray(kept, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = is_scalar_nan(self.missing_values)
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def fill_in(estimator, X, n_importance_samples, generator=None):
    """``X`` with its NaN entries filled in by a fitted skvae estimator's network.

    Each missing entry gets its self-normalised importance-weighted
    conditional mean given the row's observed values, from
    ``n_importance_samples`` draws keyed on the row (deterministic), or, with
    a ``generator``, a draw by sampling importance resampling. Works with any
    fitted estimator of the package (``VAEImputer.transform`` uses it, and
    ``python -m skvae demo`` inpaints with a ``VAETransformer``); ``X`` is
    validated input, NaN where a value is missing.
    """
    missing = np.isnan(X)
    rows = np.flatnonzero(missing.any(axis=1))  # only rows with holes need the model
    imputed = X.copy()
    if rows.size == 0:
        return imputed
    k, network = n_importance_samples, estimator.network_
    width = noise_width(network)  # per draw: z, and the missing values with a mask model
    chunk_rows = min(estimator._chunk_rows(k), _inference.chunk_rows(k * width))
    if generator is None:

        def compute(batch):
            noise = row_keyed_normal_draws(batch.values, k, width, _SCORING_SEED)
            return conditional_mean(network, batch, noise)

        compute, chunk_rows = padded(compute), whole_blocks(chunk_rows)
    else:

        def compute(batch):
            shape = (k, batch.n_rows, width)
            noise = torch.randn(shape, generator=generator, device=batch.values.device)
            return conditional_sample(network, batch, noise, generator)

    values = estimator._map_rows(X[rows], compute, chunk_rows)
    imputed[rows] = np.where(missing[rows], values, X[rows])
    return imputed


def _is_table(columns):
    """Whether the model was fitted on a DataFrame with other than float columns."""
    if columns.library is None or columns.dtypes is None:
        return False
    return any(d.get("kind") != "float" for d in columns.dtypes)
