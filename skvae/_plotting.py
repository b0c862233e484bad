"""Pictures of a fitted VAE, in scikit-learn's Display style.

Each Display is built with ``from_estimator(...)`` (which computes what to
show and plots it) or from precomputed arrays and ``plot(ax=...)``; after
plotting it holds ``ax_`` and ``figure_``, like
:class:`sklearn.metrics.RocCurveDisplay`. matplotlib is imported only inside
``plot``: importing skvae does not need it (``pip install "skvae[plot]"``).

Image data are flat rows. Their shape comes from the estimator's
``image_shape`` parameter when it has one, else from the ``image_shape``
argument, else a square single-channel image when the number of features is
a perfect square (64 -> 8 x 8, 784 -> 28 x 28).
"""

import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

# Cells of an image grid are separated by this many pixels (drawn blank).
_GAP = 1
_LABEL_COLORMAPS = ((10, "tab10"), (20, "tab20"))


# ------------------------------------------------------------------ helpers
def _pyplot(caller):
    """matplotlib.pyplot, imported only when a Display is drawn."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - matplotlib is a test dependency
        raise ImportError(
            f"{caller} needs matplotlib: pip install 'skvae[plot]' (or matplotlib)."
        ) from error
    return plt


def _axes(caller, ax, figsize):
    plt = _pyplot(caller)
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _check_fitted_with(estimator, methods, caller):
    check_is_fitted(estimator)
    missing = [m for m in methods if not hasattr(estimator, m)]
    if missing:
        raise ValueError(
            f"{caller} needs an estimator with {', '.join(missing)} (such as "
            f"VAETransformer); got {type(estimator).__name__}."
        )


def resolve_image_shape(estimator, image_shape, n_features):
    """(channels, height, width) of the rows of ``estimator``'s data.

    From ``estimator.image_shape`` when it is set, else ``image_shape``,
    else a square single-channel image when ``n_features`` is a perfect
    square. ``(height, width)`` means one channel. A ValueError says what is
    wrong when none fits.
    """
    own = getattr(estimator, "image_shape", None)
    if own is not None and image_shape is not None and tuple(own) != tuple(image_shape):
        raise ValueError(
            f"image_shape={tuple(image_shape)} disagrees with the estimator's "
            f"image_shape={tuple(own)}; leave it out."
        )
    shape = own if own is not None else image_shape
    if shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"Cannot show rows of {n_features} features as images: the number is "
                "not a perfect square. Pass image_shape=(channels, height, width)."
            )
        return (1, side, side)
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"image_shape must be (channels, height, width) or (height, width) of "
            f"positive integers, got {image_shape if own is None else own!r}."
        )
    if shape[0] not in (1, 3):
        raise ValueError(
            f"Images can be shown with 1 (grey) or 3 (RGB) channels, got image_shape={shape}."
        )
    if math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape={shape} holds {math.prod(shape)} values, but the rows have "
            f"{n_features} features."
        )
    return shape


def _value_range(estimator, *arrays):
    """Colour scale shared by every cell of a picture: the columns' own (e.g. [0, 1]
    for Bernoulli data), else the range of the values shown."""
    columns = getattr(estimator, "_columns", None)
    fixed = None if columns is None else columns.display_range()
    if fixed is not None:
        return fixed
    low = min(float(np.min(a)) for a in arrays)
    high = max(float(np.max(a)) for a in arrays)
    return (low, high if high > low else low + 1.0)


def _as_pictures(rows, image_shape, value_range):
    """Flat rows -> (n, height, width) grey or (n, height, width, 3) RGB in [0, 1]."""
    channels, height, width = image_shape
    images = np.asarray(rows, dtype=np.float64).reshape(-1, channels, height, width)
    low, high = value_range
    images = np.clip((images - low) / (high - low), 0.0, 1.0)
    if channels == 1:
        return images[:, 0]
    return images.transpose(0, 2, 3, 1)


def _mosaic(pictures, n_cols, gap=_GAP):
    """Pictures (n, h, w[, 3]) laid out row by row, ``gap`` blank pixels between cells.

    Blank pixels are NaN, drawn in the colour map's "bad" colour (grey
    pictures) or white (RGB).
    """
    n, height, width = pictures.shape[:3]
    n_rows = -(-n // n_cols)
    step_y, step_x = height + gap, width + gap
    out = np.full((n_rows * step_y - gap, n_cols * step_x - gap, *pictures.shape[3:]), np.nan)
    for k, picture in enumerate(pictures):
        row, col = divmod(k, n_cols)
        out[row * step_y : row * step_y + height, col * step_x : col * step_x + width] = picture
    if out.ndim == 3:
        out = np.nan_to_num(out, nan=1.0)
    return out


def _draw_mosaic(ax, mosaic, cmap, gap_color="white", **kwargs):
    import matplotlib

    colormap = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    colormap = colormap.with_extremes(bad=gap_color)
    image = ax.imshow(
        mosaic, cmap=colormap, vmin=0.0, vmax=1.0, interpolation="nearest", **kwargs
    )
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    return image


def _cell_centres(n_cells, size, gap=_GAP):
    return np.arange(n_cells) * (size + gap) + (size - 1) / 2


def _tick_text(value):
    return f"{value + 0.0:.2f}".replace("-0.00", "0.00")


def _grid_figsize(n_rows, n_cols, height, width, inches_per_cell=0.55, max_inches=9.0):
    scale = min(inches_per_cell, max_inches / max(n_rows, n_cols))
    return (max(2.5, n_cols * scale * width / max(height, width) + 0.8),
            max(1.2, n_rows * scale * height / max(height, width) + 0.6))


def _two_rows(X, name):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim != 2:
        raise ValueError(f"{name} must be one row or a 2-D array of rows, got {X.ndim} dimensions.")
    return X


# ------------------------------------------------------------ latent space
class LatentSpaceDisplay:
    """The latent means of data, as a scatter plot coloured by a label.

    With ``latent_dim=2`` the two latent coordinates are shown as they are.
    With ``latent_dim > 2`` the default view is the plane of the first two
    principal components of the latent means (``dims="pca"``), the linear 2-D
    view that keeps most of their spread; ``dims=(i, j)`` shows coordinates
    ``i`` and ``j`` instead.

    Use :meth:`from_estimator` to build it. All parameters are stored as
    attributes.

    Parameters
    ----------
    latent : ndarray of shape (n_samples, 2)
        The two coordinates shown.
    labels : array-like of shape (n_samples,), default=None
        Colours the points: a discrete colour per class for up to 20 classes,
        a continuous colour scale for more numeric values.
    axis_labels : tuple of str, default=("$z_{1}$", "$z_{2}$")
        Labels of the x and y axes.

    Attributes
    ----------
    scatter_ : matplotlib PathCollection
        The points.
    colorbar_ : matplotlib Colorbar or None
        The colour bar of the labels.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import LatentSpaceDisplay, VAETransformer
    >>> X, y = load_digits(return_X_y=True)
    >>> vae = VAETransformer(latent_dim=2, max_iter=5, random_state=0).fit(X)
    >>> display = LatentSpaceDisplay.from_estimator(vae, X, y)
    >>> display.latent.shape
    (1797, 2)
    >>> display.ax_.get_xlabel()
    '$z_{1}$'
    """

    def __init__(self, latent, *, labels=None, axis_labels=("$z_{1}$", "$z_{2}$")):
        self.latent = latent
        self.labels = labels
        self.axis_labels = axis_labels

    @classmethod
    def from_estimator(cls, estimator, X, y=None, *, dims=None, ax=None, **kwargs):
        """Encode ``X`` and plot its latent means.

        Parameters
        ----------
        estimator : fitted VAETransformer
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Labels that colour the points.
        dims : None, "pca" or tuple of two int, default=None
            Which 2-D view: None means the two coordinates when
            ``latent_dim=2`` and ``"pca"`` (the first two principal
            components of the latent means) when it is larger.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : LatentSpaceDisplay
        """
        _check_fitted_with(estimator, ["transform"], "LatentSpaceDisplay")
        latent_dim = estimator.latent_dim
        if latent_dim < 2:
            raise ValueError("LatentSpaceDisplay needs latent_dim >= 2, got latent_dim=1.")
        Z = np.asarray(estimator.transform(X), dtype=np.float64)
        if y is not None and len(y) != Z.shape[0]:
            raise ValueError(f"y has {len(y)} labels for {Z.shape[0]} rows of X.")
        if dims is None:
            dims = (0, 1) if latent_dim == 2 else "pca"
        if isinstance(dims, str) and dims == "pca":
            from sklearn.decomposition import PCA

            pca = PCA(n_components=2).fit(Z)
            shares = pca.explained_variance_ratio_
            latent = pca.transform(Z)
            axis_labels = tuple(
                f"principal component {k + 1} of z ({share:.0%} of variance)"
                for k, share in enumerate(shares)
            )
        else:
            dims = tuple(dims)
            if len(dims) != 2 or not all(
                isinstance(d, (int, np.integer)) and 0 <= d < latent_dim for d in dims
            ) or dims[0] == dims[1]:
                raise ValueError(
                    f"dims must be None, 'pca' or two distinct latent indices in "
                    f"[0, {latent_dim}), got {dims!r}."
                )
            latent = Z[:, list(dims)]
            axis_labels = tuple(f"$z_{{{d + 1}}}$" for d in dims)
        display = cls(latent, labels=y, axis_labels=axis_labels)
        return display.plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, colorbar=True, **kwargs):
        """Draw the scatter plot.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.
        colorbar : bool, default=True
            Add a colour bar for the labels (when there are labels).
        **kwargs
            Passed to ``ax.scatter`` (e.g. ``s``, ``alpha``, ``cmap``).

        Returns
        -------
        display : LatentSpaceDisplay
        """
        ax = _axes("LatentSpaceDisplay.plot", ax, figsize=(6.4, 5.2))
        import matplotlib

        latent = np.asarray(self.latent)
        n = latent.shape[0]
        style = {"s": float(np.clip(2e4 / max(n, 1), 2, 25)), "alpha": 0.8, "linewidths": 0}
        ticks, tick_labels = None, None
        if self.labels is not None:
            classes, codes = np.unique(np.asarray(self.labels), return_inverse=True)
            discrete = len(classes) <= _LABEL_COLORMAPS[-1][0] or not np.issubdtype(
                classes.dtype, np.number
            )
            if discrete:
                name = next((c for k, c in _LABEL_COLORMAPS if len(classes) <= k), "turbo")
                cmap = matplotlib.colormaps[name].resampled(len(classes))
                bounds = np.arange(len(classes) + 1) - 0.5
                norm_ = matplotlib.colors.BoundaryNorm(bounds, len(classes))
                style.update(c=codes, cmap=cmap, norm=norm_)
                ticks, tick_labels = np.arange(len(classes)), [str(c) for c in classes]
            else:
                style.update(c=np.asarray(self.labels, dtype=np.float64), cmap="viridis")
        style.update(kwargs)
        self.scatter_ = ax.scatter(latent[:, 0], latent[:, 1], **style)
        ax.set_xlabel(self.axis_labels[0])
        ax.set_ylabel(self.axis_labels[1])
        self.colorbar_ = None
        if self.labels is not None and colorbar:
            self.colorbar_ = ax.figure.colorbar(self.scatter_, ax=ax, label="label")
            if ticks is not None:
                self.colorbar_.set_ticks(ticks, labels=tick_labels)
                self.colorbar_.ax.tick_params(length=0)
        self.ax_, self.figure_ = ax, ax.figure
        return self


# --------------------------------------------------------------- manifold
class ManifoldDisplay:
    """Images decoded from a regular grid of latent points.

    The grid is taken at evenly spaced quantiles of the prior N(0, 1) along
    two latent coordinates (by default from 5 % to 95 %), so that it covers
    where the prior puts its mass, as in Kingma & Welling (2013), figure 4.
    With ``latent_dim > 2`` it is a 2-D slice: the other coordinates are
    held at the prior's mean, 0. The x axis runs along ``dims[0]``, the y
    axis (upwards) along ``dims[1]``.

    Use :meth:`from_estimator` to build it. All parameters are stored as
    attributes.

    Parameters
    ----------
    images : ndarray of shape (n_y, n_x, n_features)
        Decoded images; ``images[i, j]`` is row ``i`` from the top, column
        ``j`` from the left.
    grid : tuple of two ndarrays
        Latent values along the x axis (``n_x``, increasing) and the y axis
        (``n_y``, increasing upwards).
    image_shape : tuple of int
        (channels, height, width) of one image.
    dims : tuple of two int, default=(0, 1)
        The latent coordinates along x and y.
    value_range : tuple of float, default=None
        Data values drawn as black and white; None means the images' range.

    Attributes
    ----------
    image_ : matplotlib AxesImage
        The whole grid, as one image.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import ManifoldDisplay, VAETransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> vae = VAETransformer(latent_dim=2, max_iter=5, random_state=0).fit(X / 16)
    >>> display = ManifoldDisplay.from_estimator(vae, n_images_per_side=15)
    >>> display.images.shape
    (15, 15, 64)
    >>> display.image_.get_array().shape  # 15 cells of 8 pixels, 1-pixel gaps
    (134, 134)
    """

    def __init__(self, images, *, grid, image_shape, dims=(0, 1), value_range=None):
        self.images = images
        self.grid = grid
        self.image_shape = image_shape
        self.dims = dims
        self.value_range = value_range

    @classmethod
    def from_estimator(
        cls,
        estimator,
        *,
        n_images_per_side=15,
        dims=(0, 1),
        quantile_range=(0.05, 0.95),
        image_shape=None,
        ax=None,
        **kwargs,
    ):
        """Decode a grid of latent points and plot the images.

        Parameters
        ----------
        estimator : fitted VAETransformer
            With ``latent_dim >= 2``.
        n_images_per_side : int, default=15
            Grid points along each axis.
        dims : tuple of two int, default=(0, 1)
            The latent coordinates that vary; the others stay at 0.
        quantile_range : tuple of float, default=(0.05, 0.95)
            Prior quantiles of the first and last grid points, in (0, 1).
        image_shape : tuple of int, default=None
            (channels, height, width); see the module docstring.
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : ManifoldDisplay
        """
        _check_fitted_with(estimator, ["inverse_transform"], "ManifoldDisplay")
        latent_dim = estimator.latent_dim
        if latent_dim < 2:
            raise ValueError("ManifoldDisplay needs latent_dim >= 2, got latent_dim=1.")
        if not (isinstance(n_images_per_side, (int, np.integer)) and n_images_per_side >= 2):
            raise ValueError(
                f"n_images_per_side must be an integer of at least 2, got {n_images_per_side!r}."
            )
        dims = tuple(dims)
        if len(dims) != 2 or dims[0] == dims[1] or not all(
            isinstance(d, (int, np.integer)) and 0 <= d < latent_dim for d in dims
        ):
            raise ValueError(
                f"dims must be two distinct latent indices in [0, {latent_dim}), got {dims!r}."
            )
        low, high = quantile_range
        if not 0 < low < high < 1:
            raise ValueError(
                "quantile_range must be (low, high) with 0 < low < high < 1, "
                f"got {quantile_range!r}."
            )
        shape = resolve_image_shape(estimator, image_shape, estimator.n_features_in_)
        values = estimator._latent_quantiles(np.linspace(low, high, n_images_per_side))  # (n,)
        n = n_images_per_side
        Z = np.zeros((n, n, latent_dim))
        Z[:, :, dims[0]] = values[None, :]  # columns: left to right
        Z[:, :, dims[1]] = values[::-1, None]  # rows: top to bottom, so z rises upwards
        # np.asarray: a model fitted on a DataFrame decodes to one
        images = np.asarray(estimator.inverse_transform(Z.reshape(n * n, latent_dim)))
        images = images.reshape(n, n, -1)
        display = cls(
            images,
            grid=(values, values),
            image_shape=shape,
            dims=dims,
            value_range=_value_range(estimator, images),
        )
        return display.plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, cmap="gray", n_ticks=5, gap=None, **kwargs):
        """Draw the grid of images.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        cmap : str or Colormap, default="gray"
            For single-channel images.
        n_ticks : int, default=5
            Latent values labelled along each axis.
        gap : int, default=None
            Blank pixels between cells. None means 1 for images smaller than
            16 pixels (such as the 8 x 8 digits, whose strokes reach the
            border) and 0 otherwise, the seamless picture of MNIST.
        **kwargs
            Passed to ``ax.imshow``.

        Returns
        -------
        display : ManifoldDisplay
        """
        images = np.asarray(self.images)
        n_y, n_x = images.shape[:2]
        _, height, width = self.image_shape
        ax = _axes("ManifoldDisplay.plot", ax, _grid_figsize(n_y, n_x, height, width, 0.5))
        value_range = self.value_range or _value_range(None, images)
        pictures = _as_pictures(images.reshape(n_y * n_x, -1), self.image_shape, value_range)
        if gap is None:
            gap = _GAP if min(height, width) < 16 else 0
        self.image_ = _draw_mosaic(ax, _mosaic(pictures, n_x, gap=gap), cmap, **kwargs)
        grid_x, grid_y = (np.asarray(g) for g in self.grid)
        cols = np.unique(np.linspace(0, n_x - 1, min(n_ticks, n_x)).round().astype(int))
        rows = np.unique(np.linspace(0, n_y - 1, min(n_ticks, n_y)).round().astype(int))
        ax.set_xticks(
            _cell_centres(n_x, width, gap)[cols], [_tick_text(grid_x[j]) for j in cols]
        )
        ax.set_yticks(
            _cell_centres(n_y, height, gap)[rows], [_tick_text(grid_y[::-1][i]) for i in rows]
        )
        ax.set_xlabel(f"$z_{{{self.dims[0] + 1}}}$")
        ax.set_ylabel(f"$z_{{{self.dims[1] + 1}}}$")
        self.ax_, self.figure_ = ax, ax.figure
        return self


# ------------------------------------------------------- image grids
class ReconstructionDisplay:
    """Images next to their reconstructions (decoded latent means).

    Each column is one image: the input above, ``inverse_transform(
    transform(x))`` below. When ``clean`` images are given (denoising: the
    inputs are noisy copies of them), they are shown in a first row.

    Use :meth:`from_estimator` to build it. All parameters are stored as
    attributes.

    Parameters
    ----------
    inputs : ndarray of shape (n_images, n_features)
        What the model encoded.
    reconstructions : ndarray of shape (n_images, n_features)
        What it decoded.
    image_shape : tuple of int
        (channels, height, width) of one image.
    clean : ndarray of shape (n_images, n_features), default=None
        The clean images the inputs are noisy copies of.
    n_cols : int, default=10
        Images per row of the picture; more images wrap to further blocks.
    value_range : tuple of float, default=None
        Data values drawn as black and white; None means the images' range.
        :meth:`from_estimator` sets it to the columns' own range (e.g. [0, 1]
        for Bernoulli data), else to the range of the data shown (the clean
        images when given), never of the reconstructions: values outside it
        are drawn clipped.

    Attributes
    ----------
    image_ : matplotlib AxesImage
    row_labels_ : list of str
        The label of each row of cells, top to bottom.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import ReconstructionDisplay, VAETransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> vae = VAETransformer(latent_dim=8, max_iter=5, random_state=0).fit(X)
    >>> display = ReconstructionDisplay.from_estimator(vae, X, n_images=10)
    >>> display.row_labels_
    ['original', 'reconstruction']
    """

    def __init__(
        self, inputs, reconstructions, *, image_shape, clean=None, n_cols=10, value_range=None
    ):
        self.inputs = inputs
        self.reconstructions = reconstructions
        self.image_shape = image_shape
        self.clean = clean
        self.n_cols = n_cols
        self.value_range = value_range

    @classmethod
    def from_estimator(
        cls, estimator, X, *, X_clean=None, n_images=10, n_cols=10, image_shape=None, ax=None,
        **kwargs,
    ):
        """Reconstruct the first ``n_images`` rows of ``X`` and plot them.

        Parameters
        ----------
        estimator : fitted VAETransformer
        X : array-like of shape (n_samples, n_features)
        X_clean : array-like of shape (n_samples, n_features), default=None
            Clean versions of the rows of ``X``, shown above them.
        n_images : int, default=10
        n_cols : int, default=10
        image_shape : tuple of int, default=None
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : ReconstructionDisplay
        """
        _check_fitted_with(
            estimator, ["transform", "inverse_transform"], "ReconstructionDisplay"
        )
        X = _two_rows(X, "X")[:n_images]
        reconstructions = np.asarray(estimator.inverse_transform(estimator.transform(X)))
        clean = None
        if X_clean is not None:
            clean = _two_rows(X_clean, "X_clean")[:n_images]
            if clean.shape != X.shape:
                raise ValueError(
                    f"X_clean must match X; got shapes {clean.shape} and {X.shape} "
                    f"for the first {n_images} rows."
                )
        shape = resolve_image_shape(estimator, image_shape, estimator.n_features_in_)
        # The colour scale is the data's (the clean images' when given): a
        # reconstruction off that range is drawn clipped, and cannot wash out
        # every other cell.
        data = clean if clean is not None else X
        display = cls(
            X,
            reconstructions,
            image_shape=shape,
            clean=clean,
            n_cols=n_cols,
            value_range=_value_range(estimator, data),
        )
        return display.plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, cmap="gray", **kwargs):
        """Draw the images, one labelled row per kind, in blocks of ``n_cols``.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        cmap : str or Colormap, default="gray"
        **kwargs
            Passed to ``ax.imshow``.

        Returns
        -------
        display : ReconstructionDisplay
        """
        if self.clean is None:
            kinds = [("original", self.inputs), ("reconstruction", self.reconstructions)]
        else:
            kinds = [
                ("clean", self.clean),
                ("noisy input", self.inputs),
                ("denoised", self.reconstructions),
            ]
        self.image_, self.row_labels_ = _draw_labelled_rows(
            self, ax, "ReconstructionDisplay.plot", kinds, self.n_cols, cmap, **kwargs
        )
        return self


def _draw_labelled_rows(display, ax, caller, kinds, n_cols, cmap, **kwargs):
    """Rows of images, one per kind, repeated in blocks of ``n_cols`` columns."""
    arrays = [np.asarray(a, dtype=np.float64) for _, a in kinds]
    n_images = arrays[0].shape[0]
    n_cols = max(1, min(n_cols, n_images))
    n_blocks = -(-n_images // n_cols)
    _, height, width = display.image_shape
    n_rows = n_blocks * len(kinds)
    ax = _axes(caller, ax, _grid_figsize(n_rows, n_cols, height, width, 0.6))
    value_range = display.value_range or _value_range(None, *arrays)
    cells = np.full((n_rows * n_cols, *arrays[0].shape[1:]), np.nan)
    labels = []
    for block in range(n_blocks):
        columns = slice(block * n_cols, (block + 1) * n_cols)
        for k, ((name, _), array) in enumerate(zip(kinds, arrays)):
            row = block * len(kinds) + k
            part = array[columns]
            cells[row * n_cols : row * n_cols + part.shape[0]] = part
            labels.append(name)
    pictures = _as_pictures(cells, display.image_shape, value_range)
    image = _draw_mosaic(ax, _mosaic(pictures, n_cols), cmap, **kwargs)
    ax.set_yticks(_cell_centres(n_rows, height), labels)
    ax.tick_params(axis="y", length=0)
    display.ax_, display.figure_ = ax, ax.figure
    return image, labels


class SamplesDisplay:
    """A grid of images generated by the model: z ~ N(0, I), decoded.

    By default each image is the decoder's mean E[x | z] (``return_mean=True``
    in :meth:`VAETransformer.sample`), the noise-free picture usually shown;
    ``return_mean=False`` shows draws from p(x | z) instead.

    Use :meth:`from_estimator` to build it. All parameters are stored as
    attributes.

    Parameters
    ----------
    samples : ndarray of shape (n_samples, n_features)
    image_shape : tuple of int
        (channels, height, width) of one image.
    n_cols : int, default=10
        Images per row of the grid.
    value_range : tuple of float, default=None

    Attributes
    ----------
    image_ : matplotlib AxesImage
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import SamplesDisplay, VAETransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> vae = VAETransformer(latent_dim=8, max_iter=5, random_state=0).fit(X)
    >>> display = SamplesDisplay.from_estimator(vae, n_samples=20, random_state=0)
    >>> display.samples.shape
    (20, 64)
    """

    def __init__(self, samples, *, image_shape, n_cols=10, value_range=None):
        self.samples = samples
        self.image_shape = image_shape
        self.n_cols = n_cols
        self.value_range = value_range

    @classmethod
    def from_estimator(
        cls,
        estimator,
        *,
        n_samples=100,
        n_cols=10,
        return_mean=True,
        random_state=None,
        image_shape=None,
        ax=None,
        **kwargs,
    ):
        """Draw ``n_samples`` images from the model and plot them.

        Parameters
        ----------
        estimator : fitted VAETransformer
        n_samples : int, default=100
        n_cols : int, default=10
        return_mean : bool, default=True
            Show decoder means rather than draws from p(x | z).
        random_state : int, RandomState instance or None, default=None
            Seeds the latent draws.
        image_shape : tuple of int, default=None
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : SamplesDisplay
        """
        _check_fitted_with(estimator, ["sample"], "SamplesDisplay")
        samples = np.asarray(
            estimator.sample(n_samples, random_state=random_state, return_mean=return_mean)
        )
        shape = resolve_image_shape(estimator, image_shape, estimator.n_features_in_)
        display = cls(
            samples, image_shape=shape, n_cols=n_cols, value_range=_value_range(estimator, samples)
        )
        return display.plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, cmap="gray", **kwargs):
        """Draw the grid.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        cmap : str or Colormap, default="gray"
        **kwargs
            Passed to ``ax.imshow``.

        Returns
        -------
        display : SamplesDisplay
        """
        samples = np.asarray(self.samples, dtype=np.float64)
        n_cols = max(1, min(self.n_cols, samples.shape[0]))
        n_rows = -(-samples.shape[0] // n_cols)
        _, height, width = self.image_shape
        ax = _axes("SamplesDisplay.plot", ax, _grid_figsize(n_rows, n_cols, height, width, 0.5))
        value_range = self.value_range or _value_range(None, samples)
        pictures = _as_pictures(samples, self.image_shape, value_range)
        self.image_ = _draw_mosaic(ax, _mosaic(pictures, n_cols), cmap, **kwargs)
        self.ax_, self.figure_ = ax, ax.figure
        return self


class InterpolationDisplay:
    """Decoded straight paths in latent space between pairs of inputs.

    Each row is one pair: the start input, the ``n_steps`` images of
    :meth:`VAETransformer.interpolate` (from the reconstruction of the start,
    ``t = 0``, to that of the end, ``t = 1``), then the end input.

    Use :meth:`from_estimator` to build it. All parameters are stored as
    attributes.

    Parameters
    ----------
    paths : ndarray of shape (n_pairs, n_steps, n_features)
    image_shape : tuple of int
        (channels, height, width) of one image.
    starts, ends : ndarray of shape (n_pairs, n_features), default=None
        The inputs, shown at both ends of each row when given.
    value_range : tuple of float, default=None

    Attributes
    ----------
    image_ : matplotlib AxesImage
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import InterpolationDisplay, VAETransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> vae = VAETransformer(latent_dim=8, max_iter=5, random_state=0).fit(X)
    >>> display = InterpolationDisplay.from_estimator(vae, X[:3], X[3:6], n_steps=8)
    >>> display.paths.shape
    (3, 8, 64)
    """

    def __init__(self, paths, *, image_shape, starts=None, ends=None, value_range=None):
        self.paths = paths
        self.image_shape = image_shape
        self.starts = starts
        self.ends = ends
        self.value_range = value_range

    @classmethod
    def from_estimator(
        cls, estimator, X_start, X_end, *, n_steps=10, image_shape=None, ax=None, **kwargs
    ):
        """Interpolate between each row of ``X_start`` and of ``X_end`` and plot the paths.

        Parameters
        ----------
        estimator : fitted VAETransformer
        X_start : array-like of shape (n_features,) or (n_pairs, n_features)
        X_end : array-like of the same shape as ``X_start``
        n_steps : int, default=10
            Images on each path, both reconstructions included.
        image_shape : tuple of int, default=None
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : InterpolationDisplay
        """
        _check_fitted_with(estimator, ["interpolate"], "InterpolationDisplay")
        starts, ends = _two_rows(X_start, "X_start"), _two_rows(X_end, "X_end")
        if starts.shape != ends.shape:
            raise ValueError(
                f"X_start and X_end must have the same shape, got {starts.shape} and {ends.shape}."
            )
        paths = np.stack(
            [
                np.asarray(estimator.interpolate(a, b, n_steps=n_steps))
                for a, b in zip(starts, ends)
            ]
        )
        shape = resolve_image_shape(estimator, image_shape, estimator.n_features_in_)
        display = cls(
            paths,
            image_shape=shape,
            starts=starts,
            ends=ends,
            value_range=_value_range(estimator, paths, starts, ends),
        )
        return display.plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, cmap="gray", **kwargs):
        """Draw one row per pair: input, path, input.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        cmap : str or Colormap, default="gray"
        **kwargs
            Passed to ``ax.imshow``.

        Returns
        -------
        display : InterpolationDisplay
        """
        paths = np.asarray(self.paths, dtype=np.float64)
        n_pairs, n_steps, n_features = paths.shape
        with_inputs = self.starts is not None and self.ends is not None
        # With the inputs: [start, blank, path..., blank, end] in each row.
        n_cols = n_steps + (4 if with_inputs else 0)
        cells = np.full((n_pairs, n_cols, n_features), np.nan)
        if with_inputs:
            cells[:, 0], cells[:, 2 : 2 + n_steps], cells[:, -1] = (
                self.starts,
                paths,
                self.ends,
            )
        else:
            cells[:] = paths
        _, height, width = self.image_shape
        ax = _axes(
            "InterpolationDisplay.plot", ax, _grid_figsize(n_pairs, n_cols, height, width, 0.6)
        )
        arrays = [paths] + ([np.asarray(self.starts), np.asarray(self.ends)] if with_inputs else [])
        value_range = self.value_range or _value_range(None, *arrays)
        pictures = _as_pictures(cells.reshape(n_pairs * n_cols, n_features), self.image_shape,
                                value_range)
        self.image_ = _draw_mosaic(ax, _mosaic(pictures, n_cols), cmap, **kwargs)
        centres = _cell_centres(n_cols, width)
        if with_inputs:
            ax.set_xticks(
                centres[[0, 2, 1 + n_steps, n_cols - 1]], ["start", "t = 0", "t = 1", "end"]
            )
        else:
            ax.set_xticks(centres[[0, n_steps - 1]], ["t = 0", "t = 1"])
        ax.tick_params(axis="x", length=0)
        self.ax_, self.figure_ = ax, ax.figure
        return self


# --------------------------------------------------------- training curves
class TrainingCurvesDisplay:
    """The training loss, the validation ELBO and the loss's two parts per epoch.

    The loss curves are drawn as ELBOs in nats per sample, higher is better:
    the training curve is minus the training loss, which during the KL
    warm-up (shaded) weighs the KL term by less than 1 and so lies above the
    true ELBO; the validation curve (only with ``early_stopping=True``) is
    the ELBO of the held-out rows, with the epoch whose weights were kept
    marked. When the parts are known, the reconstruction term
    E_q[log p(x|z)] is drawn dashed on the same axis, and the KL term (weight
    1) on a second axis at the right: the ELBO is the first minus the second.
    A KL near 0 means that the latent code is not used (posterior collapse).

    Use :meth:`from_estimator` to build it. All parameters are stored as
    attributes.

    Parameters
    ----------
    loss_curve : list of float
        Training loss per epoch (``loss_curve_``).
    validation_scores : list of float, default=None
        Validation ELBO per epoch (``validation_scores_``).
    warmup_epochs : int, default=0
        Epochs of KL warm-up, shaded.
    reconstruction_loss_curve : list of float, default=None
        Training reconstruction loss -E_q[log p(x|z)] per epoch
        (``reconstruction_loss_curve_``).
    kl_curve : list of float, default=None
        Training KL term per epoch (``kl_curve_``).
    validation_reconstruction_loss_curve, validation_kl_curve : list of float, default=None
        The same on the validation rows.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        The training curve, then the validation curve when there is one.
    parts_lines_ : list of matplotlib Line2D
        The reconstruction-term and KL curves drawn (training, then validation).
    ax_ : matplotlib Axes
    kl_ax_ : matplotlib Axes or None
        The right-hand axis of the KL curves.
    figure_ : matplotlib Figure

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import TrainingCurvesDisplay, VAETransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> vae = VAETransformer(max_iter=8, early_stopping=True, random_state=0).fit(X)
    >>> display = TrainingCurvesDisplay.from_estimator(vae)
    >>> len(display.lines_), len(display.parts_lines_)
    (2, 4)
    """

    def __init__(
        self,
        loss_curve,
        *,
        validation_scores=None,
        warmup_epochs=0,
        reconstruction_loss_curve=None,
        kl_curve=None,
        validation_reconstruction_loss_curve=None,
        validation_kl_curve=None,
    ):
        self.loss_curve = loss_curve
        self.validation_scores = validation_scores
        self.warmup_epochs = warmup_epochs
        self.reconstruction_loss_curve = reconstruction_loss_curve
        self.kl_curve = kl_curve
        self.validation_reconstruction_loss_curve = validation_reconstruction_loss_curve
        self.validation_kl_curve = validation_kl_curve

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, **kwargs):
        """Plot a fitted estimator's ``loss_curve_`` and ``validation_scores_``.

        Parameters
        ----------
        estimator : fitted VAETransformer or VAEOutlierDetector
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : TrainingCurvesDisplay
        """
        _check_fitted_with(estimator, ["loss_curve_"], "TrainingCurvesDisplay")
        n_epochs = len(estimator.loss_curve_)

        def curve(name):  # a part recorded for every epoch, or None
            values = getattr(estimator, name, None)
            return list(values) if values and len(values) == n_epochs else None

        validation_scores = getattr(estimator, "validation_scores_", None) or None
        n_validation = len(validation_scores or [])

        def validation_curve(name):
            values = getattr(estimator, name, None)
            return list(values) if values and len(values) == n_validation else None

        display = cls(
            list(estimator.loss_curve_),
            validation_scores=validation_scores,
            warmup_epochs=min(int(getattr(estimator, "warmup_epochs", 0) or 0), n_epochs),
            reconstruction_loss_curve=curve("reconstruction_loss_curve_"),
            kl_curve=curve("kl_curve_"),
            validation_reconstruction_loss_curve=validation_curve(
                "validation_reconstruction_loss_curve_"
            ),
            validation_kl_curve=validation_curve("validation_kl_curve_"),
        )
        return display.plot(ax=ax, **kwargs)

    def plot(self, ax=None, **kwargs):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to ``ax.plot`` for both curves.

        Returns
        -------
        display : TrainingCurvesDisplay
        """
        ax = _axes("TrainingCurvesDisplay.plot", ax, figsize=(6.4, 4.2))
        import matplotlib.ticker

        training = -np.asarray(self.loss_curve, dtype=np.float64)
        epochs = np.arange(1, training.size + 1)
        curves = [training]
        if self.warmup_epochs:
            ax.axvspan(0.5, self.warmup_epochs + 0.5, color="0.9", label="KL warm-up")
        self.lines_ = ax.plot(epochs, training, label="training: minus the loss", **kwargs)
        if self.validation_scores:
            validation = np.asarray(self.validation_scores, dtype=np.float64)
            curves.append(validation)
            self.lines_ += ax.plot(
                np.arange(1, validation.size + 1), validation, label="validation ELBO", **kwargs
            )
            best = int(np.argmax(validation))
            ax.plot(best + 1, validation[best], "o", color=self.lines_[-1].get_color(),
                    label=f"best: {validation[best]:.1f} at epoch {best + 1}")
        self.parts_lines_, self.kl_ax_ = [], None
        colors = [line.get_color() for line in self.lines_]
        for reconstruction, color, name in (
            (self.reconstruction_loss_curve, colors[0], "training"),
            (self.validation_reconstruction_loss_curve, colors[-1], "validation"),
        ):
            if reconstruction:
                term = -np.asarray(reconstruction, dtype=np.float64)
                curves.append(term)
                self.parts_lines_ += ax.plot(
                    np.arange(1, term.size + 1), term, "--", color=color,
                    label=f"{name} E[log p(x|z)]",
                )
        kl_curves = [
            (kl, color, name)
            for kl, color, name in (
                (self.kl_curve, colors[0], "training"),
                (self.validation_kl_curve, colors[-1], "validation"),
            )
            if kl
        ]
        if kl_curves:
            self.kl_ax_ = ax.twinx()
            for kl, color, name in kl_curves:
                kl = np.asarray(kl, dtype=np.float64)
                self.parts_lines_ += self.kl_ax_.plot(
                    np.arange(1, kl.size + 1), kl, ":", color=color, label=f"{name} KL (right)"
                )
            self.kl_ax_.set_ylabel("KL term (nats per sample)")
            self.kl_ax_.set_ylim(bottom=0.0)
        # Leave out the first tenth of the epochs when choosing the y range:
        # the first epochs' loss can be far below the rest and flatten the curves.
        skip = min(training.size - 1, max(1, training.size // 10)) if training.size > 4 else 0
        values = np.concatenate([c[skip:] for c in curves])
        low, high = values.min(), values.max()
        margin = 0.05 * (high - low) if high > low else 1.0
        ax.set_ylim(low - margin, high + margin)
        ax.set_xlim(0.5, max(training.size, 1) + 0.5)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("ELBO (nats per sample)")
        handles, labels = ax.get_legend_handles_labels()
        if self.kl_ax_ is not None:
            more = self.kl_ax_.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        if self.kl_ax_ is None:
            ax.legend(handles, labels, loc="lower right")
        else:  # below the axes: with the parts there are too many curves to cover
            ax.legend(
                handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2,
                fontsize="small", frameon=False,
            )
        ax.grid(alpha=0.3)
        self.ax_, self.figure_ = ax, ax.figure
        return self
