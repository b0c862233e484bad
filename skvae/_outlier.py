"""VAEOutlierDetector: the VAE as a scikit-learn outlier detector."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import OutlierMixin, _fit_context
from sklearn.metrics import pairwise_distances_chunked
from sklearn.neighbors import KDTree
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseVAE
from ._state import keep_state_on_error
from ._columns import column_mean_std, observed_min_max, observed_percentiles
from ._tables import like_input

# Test inputs are winsorised to the training range widened by this many
# training standard deviations per feature before scoring (see Notes).
_CLIP_STD = 1.0
_NORMAL_IQR_PER_STD = 1.349  # 2 * 0.6745, quartiles of N(0, 1)


def _neighbor_scale(X):
    """Per-feature divisor of the neighbour distances: (n_features,) float64.

    The interquartile range, robust to the anomalies in the training data.
    Where it is 0, the feature takes one value in most rows but varies in
    the others (a mostly blank pixel, a rare flag); the standard deviation,
    times the interquartile range / standard deviation ratio of a normal
    distribution, keeps it on the footing of the others. (The range, the
    earlier fallback, gave such features next to no weight: on ADBench's
    mnist, where 63 of 100 pixels have a zero IQR, it cost the neighbour
    distance most of its power; see ``benchmarks/results/adbench_cv_*.md``.)
    Missing values (NaN) are left out; a feature with no observed value gets 1.
    """
    q1, q3 = observed_percentiles(X, [25, 75], axis=0)
    iqr = q3 - q1
    std = _NORMAL_IQR_PER_STD * column_mean_std(X)[1]
    low, high = observed_min_max(X, axis=0)
    varies = high > low  # not a rounding-level std of a constant
    return np.where(iqr > 0, iqr, np.where(varies & (std > 0), std, 1.0))


# Neighbour distances, in units of the features' spreads, beyond which the
# local-density penalty grows logarithmically (see _neighbor_penalty).
_FAR_DISTANCE = 1e6


def _overflow_free_distance(rows, center):
    """Euclidean distances of ``rows`` to ``center``, computed without squaring huge values."""
    difference = np.abs(rows - center)
    peak = difference.max(axis=1)
    ratio = difference / np.where(peak > 0, peak, 1.0)[:, None]
    distance = peak * np.sqrt(np.square(ratio).sum(axis=1))
    return np.minimum(distance, 1e300)


def _spread(values, fallback):
    """Interquartile range of ``values``, else their standard deviation, else ``fallback``."""
    # NaN (a row with nothing observed) left out
    low, high = observed_percentiles(values, [25, 75])
    if high > low:
        return float(high - low)
    std = _std(values)
    return std if std > 0 else fallback


def _std(values):
    """``np.std``, leaving NaN out where there is any."""
    return float(np.nanstd(values) if np.isnan(values).any() else np.std(values))


def _nan_euclidean_nearest(rows, reference, k):
    """Sorted distances from each row to its ``k`` nearest reference rows: (n_rows, k).

    The distances are scikit-learn's ``nan_euclidean_distances`` (as
    :class:`~sklearn.impute.KNNImputer` uses): the distance over the
    coordinates both rows observe, scaled up by the share of coordinates
    that are, and NaN for rows that observe no coordinate in common.
    Computed in memory-bounded chunks of rows, against every reference row.
    """

    def nearest(chunk, start):  # NaN sorts last
        return np.sort(np.partition(chunk, k - 1, axis=1)[:, :k], axis=1)

    blocks = pairwise_distances_chunked(
        rows, reference, reduce_func=nearest, metric="nan_euclidean"
    )
    return np.vstack(list(blocks))


class VAEOutlierDetector(OutlierMixin, BaseVAE):
    """Unsupervised outlier detection with a variational autoencoder.

    The same model and training as :class:`VAETransformer`: a VAE is fitted to
    the (unlabelled, possibly contaminated) training data by maximising the
    evidence lower bound (ELBO), and each row is scored by its ELBO, a lower
    bound on log p(x) in nats, less a local-density term: the distance to its
    ``n_neighbors``-th nearest training row, converted to nats
    (``neighbor_weight``; 0 leaves the plain ELBO). Low density means
    anomalous. The API follows
    :class:`~sklearn.ensemble.IsolationForest`: ``score_samples`` is higher
    for more normal rows, ``decision_function = score_samples - offset_`` is
    negative for outliers, and ``predict`` gives +1 (inlier) or -1 (outlier).

    Parameters
    ----------
    latent_dim : int, default=8
        Dimension of the latent space. 8 rather than :class:`VAETransformer`'s
        2, which ranked anomalies worse on ADBench data sets.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Sets ``offset_``, the threshold of ``predict``. With a float, the
        ``contamination`` quantile of the training scores, so that this share
        of the training rows is flagged. With ``"auto"``, the lower Tukey
        fence of the training scores, ``Q1 - 1.5 * (Q3 - Q1)``: rows whose
        density lies far below the bulk of the training data are flagged,
        whatever their number.
    hidden_layer_sizes : array-like of int, default=(128, 64)
        Widths of the encoder's hidden layers; the decoder mirrors them.
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
        naming the column. Training values must lie in each column's
        support; rows scored later may hold any value of a numeric column:
        they are clipped to the support (e.g. [0, 1] for Bernoulli columns)
        like any value beyond the training range, so a detector scores
        whatever it is shown instead of refusing it.
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
        Weight of the KL term during training. Scoring always uses 1.
    warmup_epochs : int, default=10
        Epochs of linear KL warm-up; it keeps the latent code from
        collapsing early in training.
    min_variance : float, default=1e-3
        Floor of the Gaussian decoder's variance, in units of each feature's
        training variance; a feature constant in training gets its value as
        mean and the floor as variance, as in :class:`VAETransformer`.
    max_iter : int, default=8
        Maximum number of epochs (:class:`VAETransformer` runs 400). The
        ADBench cross-validation over data sets chose 8 epochs with the
        local-density term in every unsupervised fold and in three of the
        five semi-supervised ones (30 in the others;
        ``benchmarks/results/adbench_cv_*.md``): fewer epochs leave the
        anomalies in the training data less time to be learnt, and fit in
        a fraction of a second. So few epochs leave the latent code
        collapsed on the closed curve of the Notes (100 epochs learn it);
        there the neighbour term flags the curve's centre instead. With
        ``neighbor_weight=0`` raise it where the anomalies are not global
        outliers.
    batch_size : int or "auto", default="auto"
        Rows per Adam step. ``"auto"`` takes a twentieth of the training
        rows, clipped to [16, 128], so that every epoch makes at least about
        20 Adam steps: on small data sets a VAE given too few updates stays
        in the collapsed state where the score is a plain distance from the
        mean (see Notes).
    trim_fraction : float in [0, 0.5), default=0.2
        Share of each mini-batch left out of the training loss: the rows
        with the lowest ELBO, as in least trimmed squares. The training data
        contain the anomalies, and a VAE fitted to all of them learns to
        reconstruct them too; trimming caps the share of rows that can pull
        on the fit (see Notes). It does not set how many rows are flagged:
        ``contamination`` does.
    learning_rate : float, default=1e-3
        Adam's step size.
    learning_rate_schedule : {"constant", "adaptive"}, default="constant"
        ``"adaptive"`` divides the step size by 5 at a plateau, at most
        twice, before stopping, as in :class:`VAETransformer`; ``"constant"``
        stops at the first plateau.
    weight_decay : float or "auto", default=0.0
        Decoupled weight decay of the Adam steps (AdamW), as in
        :class:`VAETransformer`; ``"auto"`` chooses it on the validation
        rows of early stopping, as there. 0 is plain Adam.
    weight_averaging : float in [0, 1), default=0.0
        Decay of an exponential moving average of the weights kept as the
        model, as in :class:`VAETransformer`. Off by default here: the
        detector's defaults were chosen under the ADBench cross-validation
        over data sets without it.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop when their
        ELBO stops improving; otherwise stop on the training loss.
    validation_fraction : float, default=0.1
        Share of rows held out when ``early_stopping=True``.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before stopping,
        however few Adam steps an epoch has (the defaults were chosen with
        this rule; ``VAETransformer`` waits for at least 100 steps).
    tol : float, default=1e-4
        Improvement (nats per sample) that counts as progress.
    n_mc_samples : int, default=16
        Fixed latent draws, shared by every row, for the expectation in the
        ELBO.
    neighbor_weight : float >= 0, default=4.0
        Weight of a local-density term taken off the ELBO: the distance from
        a row to its ``n_neighbors``-th nearest training row, on features
        divided by their training interquartile range, or by 1.349
        standard deviations where it is 0 (``neighbor_scale_``; after the same
        winsorising as the ELBO), measured from the training rows' median
        distance in units of its interquartile range and converted to nats
        by the training ELBO's interquartile range. With weight 1 both terms
        count equally in units of their spread over the training rows; a row
        scores low when the density model finds it unlikely or when it lies
        far from its training neighbours. 0 gives the plain ELBO. 4 was
        chosen in every fold of the ADBench cross-validation over data sets
        (both settings; see Notes).
    n_neighbors : "auto" or int, default="auto"
        Neighbour whose distance makes the local-density term; ``"auto"``
        is 20, or 1 with ``novelty=True``. With anomalies in the training
        data a far neighbour is not another anomaly: the unsupervised
        ADBench cross-validation chose 20 in two folds of five and 10 in
        three, equal in mean ROC-AUC over the sets, and 20 is the one that
        was never more than 0.10 below IsolationForest on a set. On clean
        training data (only normal rows, ADBench's semi-supervised setting)
        the nearest neighbour, 1, was chosen in every fold.
    novelty : bool, default=False
        Whether the training data are clean (normal rows only), as in
        :class:`~sklearn.neighbors.LocalOutlierFactor`'s novelty detection:
        the detector then measures a row's distance to its nearest training
        row (``n_neighbors="auto"`` becomes 1), the setting ADBench's
        semi-supervised cross-validation chose in every fold. With
        anomalies in the training data, keep False: the nearest training
        row of an anomaly is then often another anomaly.
    n_threads : "auto", int or None, default="auto"
        CPU threads PyTorch uses, as in :class:`VAETransformer`: ``"auto"``
        gives one thread to networks under 200,000 parameters and every
        available core to larger ones; otherwise ``n_jobs`` semantics (None
        means 1).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to train; ``"auto"`` picks a CUDA GPU when one is available.
    warm_start : bool, default=False
        When True, ``fit`` continues the fitted model (weights, Adam's state,
        random generator) instead of starting afresh; the threshold is set
        again from the new fit.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling and the training noise.
    verbose : int, default=0
        0 prints nothing; 1 shows a progress bar over epochs (tqdm, when
        installed; plain lines otherwise); 2 prints one line per epoch.

    Attributes
    ----------
    offset_ : float
        Threshold on ``score_samples``: ``decision_function`` is
        ``score_samples - offset_``.
    clip_low_, clip_high_ : ndarray of shape (`n_features_in_`,)
        Per-feature bounds to which every scored row is winsorised: the
        training range widened by one training standard deviation on each
        side (widened on the log scale for lognormal columns), cut to each
        column's support: [0, 1] for Bernoulli columns, whole counts, and
        for a categorical column its codes 0 to K - 1 (never clipped); see
        Notes.
    feature_offsets_ : ndarray of shape (`n_features_in_`,)
        Median over the training rows of each feature's term of the score;
        the reference that :meth:`score_features` subtracts from.
    neighbor_scale_ : ndarray of shape (`n_features_in_`,) or None
        Per-feature divisor of the local-density term: the training
        interquartile range; where it is 0 (a feature with one value in
        most rows, such as a mostly blank pixel), the standard deviation
        times 1.349, the ratio of the two for a normal distribution; 1
        for a constant feature. None when ``neighbor_weight=0``.
    neighbor_rows_ : ndarray of shape (n_samples, `n_features_in_`) or None
        The training rows divided by ``neighbor_scale_``, among which
        neighbours are searched. None when ``neighbor_weight=0``.
    n_neighbors_ : int
        The neighbour the local-density term uses: ``n_neighbors``, with
        ``"auto"`` resolved (20, or 1 with ``novelty=True``).
    neighbor_offset_ : float
        Median distance of a training row to its ``n_neighbors_``-th nearest
        other training row.
    neighbor_nats_ : float
        Nats of score lost per unit of distance beyond ``neighbor_offset_``:
        ``neighbor_weight`` times the training ELBO's interquartile range
        over the training distances' interquartile range (each the standard
        deviation where it is 0, and 1 where that is 0 too, as with
        duplicated training rows; 0 when ``neighbor_weight=0``).
    network_ : torch.nn.Module
        The trained VAE.
    n_iter_ : int
        Number of epochs run.
    loss_curve_ : list of float
        Training loss after each epoch: the negative ELBO, averaged over
        the rows kept by ``trim_fraction``.
    validation_scores_ : list of float or None
        Validation ELBO after each epoch (``early_stopping=True``), on 4 of
        the fixed scoring draws, as in :class:`VAETransformer`.
    best_validation_score_ : float or None
        Best of ``validation_scores_``.
    weight_decay_ : float
        The decay chosen by ``weight_decay="auto"``; only with ``"auto"``.
    weight_decay_scores_ : ndarray of shape (5,)
        With ``weight_decay="auto"``: the best validation ELBO of each
        candidate decay, as in :class:`VAETransformer`.
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

    See Also
    --------
    VAETransformer : The same model as a transformer.
    sklearn.ensemble.IsolationForest : A tree-based outlier detector.

    Notes
    -----
    The score is the ELBO; it is exact in z for a linear decoder, and the
    importance-weighted bound (:meth:`log_likelihood`) ranked ADBench test
    rows no better at the same cost. Measured figures, with the setting
    chosen by cross-validation over data sets so that no set is reported
    with a setting chosen on it, are in ``benchmarks/results/adbench_cv_*.md``
    (``benchmarks/bench_adbench.py``). Four choices make the score robust:

    * Contaminated training data. Each Adam step averages the negative
      ELBO over the batch without its ``trim_fraction`` worst-fitted rows
      (least trimmed squares, Rousseeuw 1984): rows the model cannot explain
      give no gradient, so a minority of anomalies is not learnt and keeps a
      low score. It helps most where the anomalies are a few extreme or
      clustered rows that an untrimmed model learns to reconstruct (see
      ``tests/test_outlier.py``); trimming much more than 0.2 drops the
      normal rows' tails too.
    * Values beyond the training range. Before the ELBO is computed, by
      :meth:`score_samples` and :meth:`log_likelihood` alike, every feature
      is winsorised to its training range widened by one training standard
      deviation on each side, so that no feature adds an unbounded quadratic
      penalty (and a feature constant in training, which has no scale of
      its own, adds none). The local-density term, though, measures the
      distance of the row as given: beyond the bounds it keeps growing, so
      scores keep falling as a row moves away, at any distance, and a
      feature that was constant in training and is moved far is flagged
      (its distances count in units of 1). :meth:`score_features` gives
      that part of the score to the features beyond their bounds.
      On a table (see :class:`VAETransformer`'s Notes) each column is
      clipped within its own support, and a categorical column is never
      clipped: every category scores by its own probability. The
      neighbour distance reads a categorical column's codes as numbers.
    * Posterior collapse. A collapsed code turns the ELBO into a diagonal
      Gaussian density, a plain distance from the mean. The KL warm-up and
      ``batch_size="auto"`` keep the code in use: on 600 points of a closed
      curve, batches of 128 (5 Adam steps per epoch) left the code collapsed
      and ranked the curve's centre as the most normal point, while batches
      of 30 learn the curve in 100 epochs and flag it. The default 8 epochs
      are too few for that; with them the local-density term flags the
      centre, which has no training rows nearby.
    * Reproducibility. The expectation over q(z|x) uses fixed latent draws
      shared by every row, so scores do not change from call to call or with
      the subset or order of the rows.
    * Missing values (NaN), in training and scoring alike. The ELBO of a row
      with holes is that of its observed entries, a bound on their marginal
      density; a row that observes ``m`` of the ``n`` features gets it
      multiplied by ``n / m``, its ELBO per observed entry on the scale of a
      complete row, as ``nan_euclidean_distances`` scales a distance over
      the observed coordinates. Without this, a row would look more normal
      the more of it is missing, because it has fewer terms. The neighbour
      distance is the ``nan_euclidean`` one (brute force instead of a
      KD-tree when any row has a hole), and the winsorising, the scales and
      the statistics leave the missing values out. A row with nothing
      observed carries no evidence: it scores ``offset_`` exactly
      (``decision_function`` 0, an inlier for ``predict``) and its
      :meth:`score_features` are 0. Complete rows score exactly as
      without this rule.

    The local-density term (``neighbor_weight``) makes the score
    ``ELBO - neighbor_nats_ * (d_k(x) - neighbor_offset_)``, with d_k the
    distance to the k-th nearest training row. The ELBO alone misses
    anomalies that sit in small dense clusters or between clusters of the
    normal rows (the VAE, trained on them too, gives them density), which a
    neighbour distance sees; the two rank-combined scores did better under
    cross-validation over the ADBench data sets than either alone
    (``benchmarks/results/adbench_cv_*.md``). The term's scale is set by
    each training row's distance to its k-th nearest *other* training row;
    ``offset_`` and ``feature_offsets_`` by the training rows' scores as
    :meth:`score_samples` gives them, where a training row is one of its own
    neighbours, so they score a little higher than new rows would (the
    more so for small ``n_neighbors``; with 1, a training row is at
    distance 0).

    Examples
    --------
    >>> import numpy as np
    >>> from skvae import VAEOutlierDetector
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(300, 4))
    >>> detector = VAEOutlierDetector(max_iter=20, random_state=0).fit(X)
    >>> detector.predict([[0.0, 0.0, 0.0, 0.0], [6.0, -6.0, 6.0, -6.0]])
    array([ 1, -1])
    >>> bool(detector.decision_function([[6.0, -6.0, 6.0, -6.0]])[0] < 0)
    True
    """

    _parameter_constraints = {
        **BaseVAE._parameter_constraints,
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "trim_fraction": [Interval(Real, 0, 0.5, closed="left")],
        "neighbor_weight": [Interval(Real, 0, None, closed="left")],
        "n_neighbors": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "novelty": ["boolean"],
    }

    def __init__(
        self,
        latent_dim=8,
        *,
        contamination="auto",
        hidden_layer_sizes=(128, 64),
        image_shape=None,
        activation="relu",
        likelihood="gaussian",
        count_size_factor=None,
        beta=1.0,
        warmup_epochs=10,
        min_variance=1e-3,
        max_iter=8,
        batch_size="auto",
        trim_fraction=0.2,
        learning_rate=1e-3,
        learning_rate_schedule="constant",
        weight_decay=0.0,
        weight_averaging=0.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        n_mc_samples=16,
        neighbor_weight=4.0,
        n_neighbors="auto",
        novelty=False,
        n_threads="auto",
        device="auto",
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.latent_dim = latent_dim
        self.contamination = contamination
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
        self.trim_fraction = trim_fraction
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.weight_decay = weight_decay
        self.weight_averaging = weight_averaging
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.n_mc_samples = n_mc_samples
        self.neighbor_weight = neighbor_weight
        self.n_neighbors = n_neighbors
        self.novelty = novelty
        self.n_threads = n_threads
        self.device = device
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    @keep_state_on_error
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the VAE on ``X`` and set the threshold ``offset_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, unlabelled; it may contain outliers.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted detector.
        """
        X, columns = self._validate_training_data(X)  # the one check of X
        clip_low, clip_high = self._clip_bounds(X, columns)
        self._fit_validated(X, columns=columns)
        observed = self._columns.observed(X)  # None when nothing is missing
        # Training rows lie inside the clipping bounds: they are scored as they are.
        elbo = self._per_entry_scale(self._score_prepared(X).astype(np.float64), observed)
        per_feature = self._score_prepared(X, per_feature=True).astype(np.float64)
        distance = self._fit_neighbors(X, elbo)
        penalty = self._neighbor_penalty(distance, X.shape[0])
        scores = elbo - penalty  # NaN for a row with nothing observed: left out below
        if observed is None:
            per_feature -= penalty[:, None] / X.shape[1]  # an equal share per feature
            feature_offsets = np.median(per_feature, axis=0)
        else:
            per_feature = self._feature_terms(per_feature, penalty, observed)
            feature_offsets = observed_percentiles(
                np.where(observed, per_feature, np.nan), 50, axis=0
            )
            feature_offsets = np.nan_to_num(feature_offsets)  # 0 for an empty feature
        if self.contamination == "auto":
            q1, q3 = observed_percentiles(scores, [25, 75])
            offset = q1 - 1.5 * (q3 - q1)
        else:
            offset = observed_percentiles(scores, 100 * self.contamination)
        self.clip_low_, self.clip_high_ = clip_low, clip_high
        self.feature_offsets_ = feature_offsets
        self.offset_ = float(offset)
        return self

    def _per_entry_scale(self, elbo, observed):
        """The ELBO of rows with holes on the scale of complete rows; NaN for empty rows.

        A row that observes ``m`` of the ``n`` features (those observed in
        training) has its ELBO multiplied by ``n / m``: its score per
        observed entry, times ``n``, as ``nan_euclidean_distances`` scales
        a distance over the observed coordinates. Complete rows are
        unchanged.
        """
        if observed is None:
            return elbo
        n_observed = observed.sum(axis=1)
        n_used = observed.shape[1] - len(self._columns.empty_columns)
        factor = (n_used / np.maximum(n_observed, 1)).astype(elbo.dtype)
        scaled = np.where(n_observed == n_used, elbo, elbo * factor)
        return np.where(n_observed == 0, np.nan, scaled).astype(elbo.dtype, copy=False)

    def _feature_terms(self, per_feature, penalty, observed):
        """Each observed feature's term of the score of rows with holes; 0 where missing.

        ``per_feature`` is the ELBO split over the observed features (the KL
        shared among them); each term is scaled as :meth:`_per_entry_scale`
        scales the row, and takes an equal share of the neighbour penalty,
        so that a row's terms sum to its score.
        """
        n_observed = np.maximum(observed.sum(axis=1, keepdims=True), 1)
        n_used = observed.shape[1] - len(self._columns.empty_columns)
        dtype = per_feature.dtype
        terms = (n_used / n_observed).astype(dtype) * per_feature
        terms = terms - (penalty[:, None] / n_observed).astype(dtype)
        return np.where(observed, terms, 0).astype(dtype, copy=False)

    def _fit_neighbors(self, X, elbo):
        """Set the local-density state; return the training rows' distances (or None).

        The scale of the term comes from each training row's distance to its
        ``n_neighbors``-th nearest *other* training row, as a new row's would
        be. The distances returned, which set ``offset_``, count a training
        row among its own neighbours (at distance 0), as when it is scored
        again later, so that ``fit_predict`` agrees with ``fit().predict``.
        """
        self.neighbor_scale_, self.neighbor_rows_ = None, None
        self.neighbor_offset_, self.neighbor_nats_ = 0.0, 0.0
        self._neighbor_tree = None
        if self.n_neighbors == "auto":
            self.n_neighbors_ = 1 if self.novelty else 20
        else:
            self.n_neighbors_ = int(self.n_neighbors)
        if self.neighbor_weight == 0:
            return None
        self.neighbor_scale_ = scale = _neighbor_scale(X)
        self.neighbor_rows_ = X / scale.astype(X.dtype)
        k = min(self.n_neighbors_, X.shape[0] - 1)
        if k < 1:  # a single training row: no other row to measure from
            return self._neighbor_distance(X)
        if np.isnan(self.neighbor_rows_).any():  # missing values: no KD-tree
            distances = _nan_euclidean_nearest(self.neighbor_rows_, self.neighbor_rows_, k + 1)
        else:
            tree = KDTree(self.neighbor_rows_)
            # Kept for scoring (not saved: skvae.load rebuilds it on each call).
            self._neighbor_tree = (self.neighbor_rows_, tree)
            distances = tree.query(self.neighbor_rows_, k=k + 1)[0]  # column 0: the row itself
        others = distances[:, k]
        # The same query, read with the row counted among its neighbours, is
        # what _neighbor_distance(X) would compute for the training rows.
        with_self = distances[:, min(self.n_neighbors_, X.shape[0]) - 1]
        self.neighbor_offset_ = float(observed_percentiles(others, 50))
        # Spreads of 0 (duplicated rows: every distance, or every ELBO, alike)
        # fall back to one unit, a feature's interquartile range and one nat,
        # so that a row far from the training rows is still penalised.
        self.neighbor_nats_ = float(
            self.neighbor_weight * _spread(elbo, fallback=1.0) / _spread(others, fallback=1.0)
        )
        return with_self

    def _neighbor_penalty(self, distance, n_rows):
        """Nats taken off the ELBO for the distance to the k-th neighbour: (n_rows,).

        Linear in the distance up to ``_FAR_DISTANCE`` units beyond
        ``neighbor_offset_``, and logarithmic beyond, so that it keeps
        growing at any distance and stays finite in float32; 0 where the
        distance is unknown (NaN: no coordinate in common with enough
        training rows), as for a row at the median distance.
        """
        if distance is None:
            return np.zeros(n_rows)
        excess = distance - self.neighbor_offset_
        with np.errstate(invalid="ignore"):
            beyond = _FAR_DISTANCE * (
                1.0 + np.log(np.fmax(excess, _FAR_DISTANCE) / _FAR_DISTANCE)
            )
            penalty = self.neighbor_nats_ * np.where(excess > _FAR_DISTANCE, beyond, excess)
        return np.where(np.isnan(penalty), 0.0, penalty)

    def _neighbor_distance(self, X):
        """Distance of rows to their ``n_neighbors_``-th training row (or None)."""
        if self.neighbor_rows_ is None:
            return None
        # Models saved before n_neighbors_ existed had an integer n_neighbors.
        k = min(getattr(self, "n_neighbors_", self.n_neighbors), self.neighbor_rows_.shape[0])
        rows = X / self.neighbor_scale_.astype(X.dtype)
        if np.isnan(rows).any() or np.isnan(self.neighbor_rows_).any():
            return _nan_euclidean_nearest(rows, self.neighbor_rows_, k)[:, k - 1]
        cached = getattr(self, "_neighbor_tree", None)
        if cached is not None and cached[0] is self.neighbor_rows_:
            tree = cached[1]
        else:  # a loaded model, or a single training row; scoring must not set state
            tree = KDTree(self.neighbor_rows_)
        # Beyond 1e100 units the squares of a distance overflow: such a row's
        # distance is taken to the training rows' median, without squaring.
        far = np.abs(rows).max(axis=1, initial=0.0) > 1e100
        distances = np.empty(X.shape[0])
        if np.any(~far):  # KDTree: exact distances, row by row: subset and order invariant
            distances[~far] = tree.query(rows[~far], k=k)[0][:, k - 1]
        if np.any(far):
            center = np.median(self.neighbor_rows_, axis=0)
            distances[far] = _overflow_free_distance(
                X[far].astype(np.float64) / self.neighbor_scale_, center
            )
        return distances

    def _clip_bounds(self, X, columns):
        """Per-feature winsorising bounds: the training range widened (see Notes).

        Each block of ``columns`` gives its own, cut to its support: [0, 1]
        for Bernoulli columns, whole counts, the codes 0 .. K - 1 of a
        categorical column (never clipped into a code that names no
        category), the range widened on the log scale for lognormal ones.
        """
        low, high = columns.winsor_bounds(X, _CLIP_STD)
        return low.astype(X.dtype), high.astype(X.dtype)

    def _scoring_rows(self, X):
        """The validated rows as given, and winsorised (see :meth:`_scoring_input`)."""
        X = self._validate_for_inference(X)
        clipped = np.clip(X, self.clip_low_.astype(X.dtype), self.clip_high_.astype(X.dtype))
        return X, clipped

    def _scoring_input(self, X):
        """Validated rows, winsorised to ``[clip_low_, clip_high_]`` (see Notes).

        Every density score, :meth:`score_samples`, :meth:`score_features` and
        the inherited :meth:`log_likelihood`, reads its rows through here.
        Unlike :class:`VAETransformer`, values outside [0, 1] are accepted
        with ``likelihood="bernoulli"``: they are clipped, as any other value
        beyond the bounds.
        """
        X = self._validate_for_inference(X)
        return np.clip(X, self.clip_low_.astype(X.dtype), self.clip_high_.astype(X.dtype))

    def _trim_fraction(self):
        return self.trim_fraction

    # The detector's score is the ELBO and a neighbour distance, whether or not
    # its short fit uses the latent code: a collapsed model is no failure here.
    _warns_on_collapse = False

    def _warns_at_max_iter(self):
        """Only with early stopping: the detector's default trains max_iter epochs by design.

        Its ``max_iter=8`` was chosen by cross-validation over data sets (see
        the class docstring); stopping there is not a failure to converge.
        """
        return self.early_stopping

    def _resolve_batch_size(self, n_train_rows):
        if self.batch_size == "auto":
            return int(min(128, max(16, n_train_rows // 20)))
        return self.batch_size

    def score_samples(self, X):
        """Per-sample score of the winsorised rows: higher is more normal.

        The score is the ELBO of the row with every feature clipped to its
        training range widened by one training standard deviation, less the
        local-density term of ``neighbor_weight`` for the row as given (the
        plain ELBO when it is 0), so that it keeps falling as a row moves
        away from the training rows (see Notes). The result is
        deterministic: it does not change from call to call, nor with the
        order or subset of the rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            In nats, with the dtype of ``X``; with ``neighbor_weight=0`` the
            lower bound on log p(x).
        """
        X_given, X = self._scoring_rows(X)
        self._check_representable(X)
        observed = self._columns.observed(X)
        elbo = self._per_entry_scale(self._score_prepared(X), observed)
        # The distance is the given row's: beyond the clipping bounds it keeps growing.
        penalty = self._neighbor_penalty(self._neighbor_distance(X_given), X.shape[0])
        scores = (elbo - penalty.astype(X.dtype)).astype(X.dtype, copy=False)
        if observed is None:
            return scores
        return np.where(np.isnan(elbo), X.dtype.type(self.offset_), scores)  # empty rows

    def score_features(self, X):
        """Split each row's anomaly score over the features: which ones make it odd.

        Feature j of a row gets ``feature_offsets_[j]`` minus its term of the
        score: its expected reconstruction log-density E_q[log p(x_j|z)] (with
        its share of the log-Jacobian of the standardisation) and an equal
        share of the KL term and of the local-density term, which belong to
        no one feature. Subtracting
        ``feature_offsets_``, each feature's median term over the training
        rows, puts the features on a common footing: a value near 0 is as
        typical as the median training row on that feature, a large positive
        value marks the feature that the model reconstructs worst, in nats.
        Because the reconstruction is conditioned on the whole row, a value
        that is ordinary on its own but breaks the learnt dependence between
        features is flagged too. The rows sum to a shifted negative score::

            score_features(X).sum(axis=1)
                == feature_offsets_.sum() - score_samples(X)   # up to rounding

        so ranking rows by the sum ranks them as ``score_samples`` does. A
        missing feature (NaN) gets 0, and the sum runs over the offsets of
        the observed features only (see Notes for the scale of rows with
        holes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        contributions : ndarray or DataFrame of shape (n_samples, n_features)
            Higher means more anomalous on that feature, with the dtype of
            ``X``; a DataFrame of ``X``'s columns and index when ``X`` is a
            (pandas or polars) DataFrame. A categorical column is one
            feature, however many categories it has.

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import VAEOutlierDetector
        >>> X = np.random.RandomState(0).normal(size=(300, 4))
        >>> detector = VAEOutlierDetector(max_iter=20, random_state=0).fit(X)
        >>> contributions = detector.score_features([[0.0, 0.0, 6.0, 0.0]])
        >>> int(contributions.argmax())
        2
        """
        raw = X
        X_given, X = self._scoring_rows(X)
        per_feature = self._score_prepared(X, per_feature=True)
        penalty = self._neighbor_penalty(self._neighbor_distance(X), X.shape[0])
        observed = self._columns.observed(X)
        if observed is not None:  # rows with holes: each observed feature's term
            given = self._neighbor_penalty(self._neighbor_distance(X_given), X.shape[0])
            terms = self._feature_terms(per_feature, given, observed)
            contributions = np.where(observed, self.feature_offsets_.astype(X.dtype) - terms, 0)
            return like_input(contributions.astype(X.dtype, copy=False), raw)
        per_feature = per_feature - (penalty / X.shape[1]).astype(X.dtype)[:, None]
        # What the given row's distance adds beyond the winsorised row's goes
        # to the features beyond their bounds, by their squared excess.
        extra = self._neighbor_penalty(self._neighbor_distance(X_given), X.shape[0]) - penalty
        if self.neighbor_scale_ is not None:
            excess = np.square((X_given - X) / self.neighbor_scale_.astype(X.dtype))
            total = excess.sum(axis=1, keepdims=True)
            share = np.divide(excess, total, out=np.zeros_like(excess), where=total > 0)
            per_feature = per_feature - (extra[:, None] * share).astype(X.dtype)
        return like_input(self.feature_offsets_.astype(X.dtype) - per_feature, raw)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            With the dtype of ``X``.
        """
        scores = self.score_samples(X)
        return scores - scores.dtype.type(self.offset_)

    def predict(self, X):
        """Label each row: +1 for an inlier, -1 for an outlier.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            +1 where ``decision_function(X) >= 0``, -1 elsewhere.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)
