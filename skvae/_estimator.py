"""VAETransformer: a variational autoencoder as a scikit-learn transformer."""

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import BaseVAE
from ._columns import MAX_STANDARDIZED
from ._inference import chunks, padded, whole_blocks
from ._tables import from_numeric, pandas_index
from ._threads import torch_threads


class VAETransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseVAE):
    """Variational autoencoder (Kingma & Welling, 2013) as a transformer.

    An encoder q(z|x) = N(mu(x), diag(sigma^2(x))) and a decoder p(x|z) are
    trained together by maximising the evidence lower bound
    ``E_q[log p(x|z)] - beta * KL(q(z|x) || N(0, I))`` with Adam. ``transform``
    gives the latent means, ``inverse_transform`` decodes them, ``sample``
    draws new data, and ``score_samples`` / ``score`` give the ELBO as a
    density score (higher = more typical).

    With ``likelihood="gaussian"`` the data are standardised inside the model
    (every score is still a density of the raw data); features that are
    constant in training are centred but not scaled.

    NaN marks a missing value, in ``fit`` and every method that reads rows:
    a row contributes the ELBO of its observed entries, and the encoder is
    given the mask too when the training data have holes (see ``fit`` and
    ``score_samples``; :class:`VAEImputer` fills the holes in).

    Parameters
    ----------
    latent_dim : int, default=2
        Dimension of the latent space (the number of output features).
    hidden_layer_sizes : array-like of int, default=(128, 64)
        Widths of the encoder's hidden layers; the decoder mirrors them.
        ``()`` gives a linear encoder and decoder (factor analysis).
    image_shape : tuple of 3 int or None, default=None
        ``(channels, height, width)`` of images given as flat rows (C order,
        as ``images.reshape(n_samples, -1)`` flattens them); the product must
        equal ``n_features``. With it the encoder is convolutional (two 3x3
        convolutions of stride 2, 32 and 64 channels) and the decoder mirrors
        it with transposed convolutions, as in the Keras MNIST VAE; any image
        size works. ``hidden_layer_sizes`` then gives the fully connected
        layers between the flattened feature map and the latent code. Each
        pixel is a feature as before: standardised on its own and, with
        ``likelihood="gaussian"``, given its own learned variance. None (the
        default) uses fully connected networks.
    activation : {"relu", "tanh", "elu", "gelu"}, default="relu"
        Activation between hidden layers.
    likelihood : str, dict or "auto", default="gaussian"
        The distribution p(x_j | z) of each column:

        - ``"gaussian"``: real values, with a learned per-column variance;
        - ``"bernoulli"``: values in [0, 1] (binary, or probabilities);
        - ``"lognormal"``: positive amounts, Gaussian on the log scale;
        - ``"poisson"`` and ``"negative_binomial"``: counts (non-negative
          integers); the negative binomial decodes a mean and a dispersion
          per column, for counts more variable than a Poisson's;
        - ``"categorical"``: one class per category of a category dtype, or
          per distinct training value; a categorical column is one feature.

        One name applies to every column. A dict maps columns, by name or
        position, to names; the columns it leaves out get what ``"auto"``
        gives them. ``"auto"`` reads the dtypes, as scikit-learn's
        ``HistGradientBoostingClassifier(categorical_features="from_dtype")``
        reads category columns, with a rule for each kind: category
        (ordered or not: the order is not used), string and object columns
        are categorical, bool columns Bernoulli, float columns Gaussian,
        and integer columns negative binomial when their training values
        are all non-negative (year- or ID-like integers are better named in
        a dict), Gaussian otherwise; a numpy array's one dtype is read the
        same way, for every column. A value
        outside its column's support, a category not seen in ``fit`` and a
        non-numeric column under a numeric likelihood raise a ValueError
        naming the column.
    count_size_factor : {None, "total"}, default=None
        ``"total"`` scales each row's count means by its size factor, as
        scVI uses library size: for the ``"poisson"`` and
        ``"negative_binomial"`` columns the decoder's log-mean gains
        ``log(L) - mean(log L_train)``, where ``L`` is the row's observed
        total over the columns of that likelihood (at least 1), so that the
        latent code models the composition of the counts (e.g. gene
        expression) and not the sequencing depth of the row. Rows that are
        generated rather than given take their library from the normal fit
        to the training rows' ``log L`` (:meth:`sample`), and decoder means
        (:meth:`inverse_transform`) are at the typical library, the geometric
        mean of the training totals. Needs at least one count column. None
        models the counts as they are.
    gaussian_variance : {"column", "row"}, default="column"
        The variance of p(x_j | z) for Gaussian and log-normal columns.
        ``"column"``: one learned variance per column, the same for every
        row (factor analysis's noise; the closed-form reconstruction term of
        a linear decoder needs it). ``"row"``: the decoder outputs a
        variance for every row besides the mean (heteroscedastic noise, as
        SDV's TVAE), so that rows from a tight group get little noise and
        rows from a loose one much; two decoder outputs per such column.
        The floor ``min_variance`` holds in both, and the decoded variance
        is bounded smoothly (at most ``min_variance + 2.2e4`` standardised
        units) so that it stays finite in float32. Not available with
        ``image_shape``.
    handle_unknown : {"error", "missing"}, default="error"
        A category not seen in ``fit``, in a categorical column of the rows
        given to ``transform``, ``score_samples`` and the other methods after
        ``fit``: ``"error"`` raises a ValueError naming the column and the
        value, as ``OneHotEncoder(handle_unknown="error")`` does;
        ``"missing"`` treats it as a missing value (see ``fit``). Training
        rows always raise.
    beta : float, default=1.0
        Weight of the KL term during training (beta-VAE). Scoring always
        uses 1.
    warmup_epochs : int, default=10
        The KL weight rises linearly from ``beta / warmup_epochs`` to ``beta``
        over this many epochs (clamped to ``max_iter``); 0 disables warm-up.
        It keeps the latent code from collapsing early in training.
    min_variance : float, default=1e-4
        Floor of the Gaussian decoder's variance, in units of each feature's
        variance (raw units for features constant in training). It bounds
        the density: each feature adds at most ``-0.5 * log(2 * pi *
        min_variance)`` nats (3.7 at the default). Nearly collinear features
        need a low floor: factor analysis puts some noise variances of
        standardised ``load_breast_cancer`` below 1e-5 of the feature's. A
        feature that takes one value in every training row is fitted in
        closed form by ``fit``: its mean is that value and its variance the
        floor (``FactorAnalysis``'s floor is 1e-12).
    max_iter : int, default=400
        Maximum number of epochs.
    batch_size : int, default=128
        Rows per Adam step (clipped to the number of training rows).
    learning_rate : float, default=1e-3
        Adam's initial step size.
    learning_rate_schedule : {"constant", "adaptive"}, default="adaptive"
        ``"adaptive"``: when ``n_iter_no_change`` epochs bring no ``tol``
        improvement, go back to the best weights (with early stopping) and
        divide the step size by 5, at most twice, before stopping, as
        scikit-learn's MLP does with ``learning_rate="adaptive"``. The small
        steps at the end refine the best model instead of ending on it.
        ``"constant"``: stop at the first plateau.
    weight_decay : float or "auto", default=0.0
        Decoupled weight decay (AdamW, Loshchilov & Hutter 2019): every Adam
        step also shrinks each weight by ``learning_rate * weight_decay``,
        apart from the gradient step. It regularises a network that would
        otherwise fit its few training rows too closely (held-out ELBO well
        below the training ELBO); choose it on held-out data, e.g. with
        :class:`~sklearn.model_selection.GridSearchCV` and ``score``, or let
        ``"auto"`` choose it as ``RidgeCV`` chooses ``alpha``: one fit per
        decay of 0, 0.1, 0.2, 0.5 and 1 (five times the time of one fit),
        each on the same training rows and from the same initial weights,
        and the model kept is the one with the best ELBO on the validation
        rows that early stopping holds out (``weight_decay_``; needs
        ``early_stopping=True``, and ``partial_fit`` a number). 0 is plain
        Adam.
    weight_averaging : float in [0, 1), default=0.99
        Decay of the exponential moving average of the weights kept as the
        model (Polyak averaging): after every Adam step the average moves
        ``1 - weight_averaging`` of the way to the new weights (further in
        the first steps, so it is not tied to the random initial weights).
        The average of the noisy stochastic-gradient iterates scores better
        than the last of them at the same number of steps, so validation,
        early stopping and the fitted model all use it; training continues
        from the last iterate, which ``partial_fit`` and ``warm_start`` keep.
        0 keeps the last iterate as the model.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows, stop when their ELBO
        stops improving and restore the best weights, so the model kept is
        the one that generalises best. ``False`` trains on every row and
        stops when the training loss stops improving. ``partial_fit`` never
        holds rows out.
    validation_fraction : float, default=0.1
        Share of rows held out when ``early_stopping=True``.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before stopping
        (or before a step-size cut). Where an epoch has few Adam steps, the
        wait is lengthened to cover at least 100 steps: with full batches
        (one step per epoch) it is 100 epochs.
    tol : float, default=1e-4
        Improvement (in nats per sample) that counts as progress.
    n_mc_samples : int, default=16
        Fixed latent draws shared by every row when scoring with a
        non-linear decoder (the expectation is exact for a linear one). The
        draws are moment-matched to N(0, I); with more than ``latent_dim`` of
        them the estimate is exact for a linear Gaussian decoder, while fewer
        leave a fixed error of about 0.1-0.4 nats per sample there
        (``benchmarks/bench_digits_density.py``).
    n_threads : "auto", int or None, default="auto"
        CPU threads PyTorch uses during fit and inference. ``"auto"`` gives
        one thread to small networks (splitting their small matrix products
        costs more than it saves) and every available core to networks of
        200,000 parameters or more. Otherwise ``n_jobs`` semantics: None
        means 1, -1 means all cores. "Available" cores respect the share of a
        joblib or Dask worker (``OMP_NUM_THREADS``), so a parallel search
        does not oversubscribe. PyTorch's global setting is restored
        afterwards; the count used is ``n_threads_``.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to train; ``"auto"`` picks a CUDA GPU when one is available.
    warm_start : bool, default=False
        When True, ``fit`` continues the fitted model (weights, Adam's state,
        random generator, curves) instead of starting afresh.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, the validation split and the
        training noise. An integer makes ``fit`` reproducible.
    verbose : int, default=0
        0 prints nothing; 1 shows a progress bar over epochs with the loss
        and validation ELBO (tqdm, when installed; plain lines otherwise); 2
        prints one line per epoch. scikit-learn's callbacks
        (``set_callbacks``, scikit-learn >= 1.9) work whatever ``verbose``.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained VAE (encoder, decoder, likelihood, prior).
    n_iter_ : int
        Number of epochs run (over every ``fit`` with ``warm_start`` and
        every ``partial_fit`` call).
    t_ : int
        Number of training rows seen, over all epochs.
    n_threads_ : int
        CPU threads used (see ``n_threads``).
    best_loss_ : float or None
        Lowest training loss of the last ``fit`` without early stopping.
    loss_curve_ : list of float
        Training loss (negative ELBO with the epoch's KL weight, nats per
        sample) after each epoch.
    validation_scores_ : list of float or None
        Mean validation ELBO after each epoch (``early_stopping=True``),
        averaged over 4 of the fixed scoring draws (all of them when
        ``n_mc_samples`` is smaller): every epoch is scored on the same
        draws, which is what comparing epochs needs, so these values can
        differ slightly from ``score`` on the same rows.
    best_validation_score_ : float or None
        Best of ``validation_scores_``; its weights are the ones kept.
    weight_decay_ : float
        The decay the model was trained with, chosen by
        ``weight_decay="auto"``; only with ``"auto"``.
    weight_decay_scores_ : ndarray of shape (5,)
        With ``weight_decay="auto"``: the best validation ELBO of each
        candidate decay (0, 0.1, 0.2, 0.5, 1), -inf for a fit that reached
        no finite one, NaN for one not run (a search stopped by Ctrl-C).
    reconstruction_loss_curve_ : list of float
        The loss's first part after each epoch: the reconstruction loss
        -E_q[log p(x|z)], nats per sample, averaged over the epoch's rows.
    kl_curve_ : list of float
        Its second part: the KL term KL(q(z|x) || p(z)) with weight 1, so
        that ``loss_curve_`` is the first part plus the epoch's KL weight
        (``beta``, ramped up over ``warmup_epochs``) times this.
    kl_per_dimension_curve_ : list of list of float
        The KL term of each latent dimension after each epoch; a dimension
        whose KL stays near 0 is not used.
    validation_reconstruction_loss_curve_, validation_kl_curve_, \
validation_kl_per_dimension_curve_ : list or None
        The same on the validation rows (``early_stopping=True``), with the
        draws of ``validation_scores_``: each validation score is minus the
        sum of the first two.
    kl_per_dimension_ : ndarray of shape (latent_dim,)
        The KL term of each latent dimension for the fitted model, on the
        validation rows (the training rows without early stopping; at most
        4,096 of them). When every entry is below 0.05 nats the model uses
        no latent dimension, and ``fit`` warns with a
        ``PosteriorCollapseWarning``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during fit, when they are all strings.
    training_dtype_ : numpy.dtype
        dtype of the training data (float32 or float64): the dtype of
        :meth:`sample`'s output.

    See Also
    --------
    sklearn.decomposition.FactorAnalysis : The linear Gaussian special case.
    VAEOutlierDetector : The same model as an outlier detector.
    VAEImputer : The same model filling in missing values.

    Notes
    -----
    Tables. A pandas or polars DataFrame of float, integer, bool, string and
    category columns is read as it is, each column with its own likelihood
    (see ``likelihood``); ``n_features_in_`` and ``feature_names_in_`` are
    its columns'. :meth:`inverse_transform` and :meth:`sample` give back a
    DataFrame of the training columns, dtypes and category sets (integer
    columns rounded, bool columns thresholded, categories as the training
    category dtype); with ``clip_to_training_range=True`` every column stays
    within its training range. :meth:`score_samples` is then the log of a
    mixed density: the probability mass of the row's discrete columns
    (bool, counts, categories) times the density of its continuous ones,
    so its value depends on the units of the continuous columns, as any
    density does, and rows are compared within one table.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import VAETransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> vae = VAETransformer(latent_dim=2, max_iter=30, random_state=0).fit(X)
    >>> vae.transform(X[:3]).shape
    (3, 2)
    >>> vae.get_feature_names_out()
    array(['vaetransformer0', 'vaetransformer1'], dtype=object)
    >>> bool(vae.score(X) > -200)  # mean ELBO, nats per image
    True

    Counts whose rows differ in depth (such as gene expression), with each
    row's means scaled by its total count:

    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> depth = rng.choice([50, 500], size=(300, 1))
    >>> counts = rng.poisson(depth * rng.dirichlet(np.ones(20), size=300))
    >>> nb = VAETransformer(likelihood="negative_binomial", count_size_factor="total",
    ...                     max_iter=5, random_state=0).fit(counts)
    >>> drawn = nb.sample(4, random_state=0)  # libraries drawn from the training fit
    >>> bool((drawn >= 0).all() and (drawn == np.round(drawn)).all())
    True

    The same digits as 8 x 8 images, with convolutional networks:

    >>> conv = VAETransformer(latent_dim=2, image_shape=(1, 8, 8), hidden_layer_sizes=(),
    ...                       max_iter=2, random_state=0).fit(X[:300])
    >>> conv.transform(X[:3]).shape
    (3, 2)
    """

    _min_patience_steps = 100

    _parameter_constraints = {
        **BaseVAE._parameter_constraints,
        "gaussian_variance": [StrOptions({"column", "row"})],
        "handle_unknown": [StrOptions({"error", "missing"})],
    }

    def __init__(
        self,
        latent_dim=2,
        *,
        hidden_layer_sizes=(128, 64),
        image_shape=None,
        activation="relu",
        likelihood="gaussian",
        count_size_factor=None,
        gaussian_variance="column",
        handle_unknown="error",
        beta=1.0,
        warmup_epochs=10,
        min_variance=1e-4,
        max_iter=400,
        batch_size=128,
        learning_rate=1e-3,
        learning_rate_schedule="adaptive",
        weight_decay=0.0,
        weight_averaging=0.99,
        early_stopping=True,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.image_shape = image_shape
        self.activation = activation
        self.likelihood = likelihood
        self.count_size_factor = count_size_factor
        self.gaussian_variance = gaussian_variance
        self.handle_unknown = handle_unknown
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

    @property
    def _n_features_out(self):
        return self.latent_dim

    def _gaussian_variance(self):
        return self.gaussian_variance

    def _handle_unknown(self):
        return self.handle_unknown

    def _check_image_shape(self, n_features):
        image_shape = super()._check_image_shape(n_features)
        if image_shape is not None and self.gaussian_variance == "row":
            raise ValueError(
                "gaussian_variance='row' needs a fully connected decoder; with image_shape "
                "the convolutional decoder gives one output per pixel. Use "
                "gaussian_variance='column'."
            )
        return image_shape

    def transform(self, X):
        """Encode ``X`` as the means of q(z|x).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN where a value is missing: the code is that of the observed
            values.

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim)
            Deterministic latent means, with the dtype of ``X``: a row's code
            is the same, bit for bit, whatever other rows are encoded with it.
            Values beyond 1e12 training standard deviations (or float32's
            range) raise a ValueError naming them.
        """
        X = self._validate_for_inference(X)
        self._check_representable(X)
        # Whole row blocks, so a row's code does not depend on the rows around it.
        chunk_rows = whole_blocks(self._chunk_rows())
        return self._map_rows(X, padded(self._latent_means), chunk_rows)

    def _latent_means(self, batch):
        return self.network_.encode(batch.values, batch.mask)[0]

    def inverse_transform(self, X, *, clip_to_training_range=False):
        """Decode latent codes to the decoder's mean in the data space.

        Each column gets E[x | z] under its likelihood, except a categorical
        one, which gets its most probable category (a mean of codes would
        name none).

        Parameters
        ----------
        X : array-like of shape (n_samples, latent_dim)
            Latent codes, e.g. the output of :meth:`transform`.
        clip_to_training_range : bool, default=False
            Clip every column to the range it had in the training data
            (as SDV's ``enforce_min_max_values``).

        Returns
        -------
        X_original : ndarray or DataFrame of shape (n_samples, `n_features_in_`)
            E[x | z], with the dtype of the input. For a model fitted on a
            DataFrame, a DataFrame of the training columns with their dtypes
            (see :meth:`sample`), with the index of ``X`` when it has one.
        """
        check_is_fitted(self)
        index = pandas_index(X)
        Z = check_array(X, dtype=[np.float64, np.float32])
        if Z.shape[1] != self.latent_dim:
            raise ValueError(
                f"X has {Z.shape[1]} features, but inverse_transform expects "
                f"latent_dim={self.latent_dim} latent features."
            )
        if Z.size and max(Z.max(), -Z.min()) > MAX_STANDARDIZED:
            row, column = np.argwhere(np.abs(Z) > MAX_STANDARDIZED)[0]
            raise ValueError(
                f"X[{row}, {column}] = {float(Z[row, column])!r} is beyond what the model "
                f"can represent: latent codes must lie within +/-{MAX_STANDARDIZED:g} "
                "(the prior is N(0, I))."
            )
        decoded = self._map_rows(
            Z, lambda batch: self.network_.decode_mean(batch.values), self._chunk_rows()
        )
        return from_numeric(decoded, self._columns, index, clip=clip_to_training_range)

    def interpolate(self, x_start, x_end, n_steps=10):
        """Decode a straight path in latent space between two inputs.

        Both inputs are encoded to their latent means, the segment between
        the two means is cut into ``n_steps`` evenly spaced points (both ends
        included), and each point is decoded to the decoder's mean. The first
        and last rows are therefore the reconstructions of ``x_start`` and
        ``x_end``, not the inputs themselves.

        Parameters
        ----------
        x_start : array-like of shape (n_features,) or (1, n_features)
            Where the path starts.
        x_end : array-like of shape (n_features,) or (1, n_features)
            Where the path ends.
        n_steps : int, default=10
            Number of points on the path, at least 2.

        Returns
        -------
        X_path : ndarray or DataFrame of shape (n_steps, `n_features_in_`)
            The decoded path, with the dtype of the inputs (float32 only
            when both are float32); a DataFrame for a model fitted on one
            (see :meth:`inverse_transform`).

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skvae import VAETransformer
        >>> X, _ = load_digits(return_X_y=True)
        >>> vae = VAETransformer(max_iter=20, random_state=0).fit(X)
        >>> vae.interpolate(X[0], X[1], n_steps=5).shape
        (5, 64)
        """
        check_is_fitted(self)
        if not (isinstance(n_steps, (int, np.integer)) and n_steps >= 2):
            raise ValueError(f"n_steps must be an integer of at least 2, got {n_steps!r}.")
        ends = [self._validate_one_row(x_start, "x_start"), self._validate_one_row(x_end, "x_end")]
        dtype = np.result_type(*ends)
        z_start, z_end = (
            self._map_rows(x, self._latent_means, self._chunk_rows())[0].astype(np.float64)
            for x in ends
        )
        t = np.linspace(0.0, 1.0, n_steps)[:, None]  # (n_steps, 1)
        path = (1.0 - t) * z_start + t * z_end  # (n_steps, latent_dim)
        return self.inverse_transform(path.astype(dtype))

    def _validate_one_row(self, x, name):
        """One input row as a validated (1, n_features) array."""
        if not hasattr(x, "columns") and np.ndim(x) == 1:
            x = np.asarray(x).reshape(1, -1)
        x = self._validate_for_inference(x)
        if x.shape[0] != 1:
            raise ValueError(f"{name} must be one sample, got an array of {x.shape[0]} rows.")
        return x

    def sample(
        self, n_samples=1, *, random_state=None, return_mean=False, clip_to_training_range=False
    ):
        """Draw new data from the fitted generative model.

        z ~ p(z), the prior (N(0, I)), then x ~ p(x | z): each column from
        its own likelihood, so counts are non-negative integers, Bernoulli
        columns 0 or 1 and categorical columns one of their categories.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; an integer makes them reproducible.
        return_mean : bool, default=False
            Return the decoder means E[x | z] instead of draws from p(x | z):
            the noise-free outputs usually shown as generated images (the
            most probable category, for a categorical column).
        clip_to_training_range : bool, default=False
            Clip every column to the range it had in the training data
            (as SDV's ``enforce_min_max_values``): a Gaussian column's tails
            then stop at the smallest and largest training values.

        Returns
        -------
        X : ndarray or DataFrame of shape (n_samples, `n_features_in_`)
            With the dtype of the training data. A model fitted on a
            DataFrame gives a DataFrame of the same columns and dtypes:
            integer columns rounded to integers, boolean ones True where
            the value is at least 1/2, categorical ones with their training
            category dtype (category set and order) or values.

        Examples
        --------
        >>> import numpy as np
        >>> import pandas as pd
        >>> from skvae import VAETransformer
        >>> rng = np.random.RandomState(0)
        >>> table = pd.DataFrame({
        ...     "colour": pd.Categorical(rng.choice(["red", "blue"], 200)),
        ...     "visits": rng.poisson(2.0, 200),
        ...     "member": rng.rand(200) < 0.3,
        ...     "height": rng.normal(170, 10, 200),
        ... })
        >>> vae = VAETransformer(likelihood="auto", max_iter=5, random_state=0).fit(table)
        >>> drawn = vae.sample(3, random_state=0)
        >>> drawn.dtypes.astype(str).tolist()
        ['category', 'int64', 'bool', 'float64']
        >>> bool((drawn["visits"] >= 0).all())
        True
        """
        check_is_fitted(self)
        if (
            isinstance(n_samples, (bool, np.bool_))
            or not isinstance(n_samples, (int, np.integer))
            or n_samples < 1
        ):
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        seed = int(check_random_state(random_state).randint(2**31 - 1))
        device = self._device()
        generator = torch.Generator(device).manual_seed(seed)
        network = self.network_
        out = np.empty((n_samples, self.n_features_in_), dtype=self.training_dtype_)
        with torch_threads(self.n_threads_), torch.inference_mode():
            for start, stop in chunks(n_samples, self._chunk_rows()):
                z = network.prior.sample(stop - start, generator, device)
                if return_mean:
                    x = network.decode_mean(z)
                else:
                    x = network.decode_sample(z, generator)
                out[start:stop] = x.cpu().numpy()
        return from_numeric(out, self._columns, clip=clip_to_training_range)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
