"""Progress of ``fit``: a tqdm bar over epochs, or plain lines without tqdm.

``verbose=0`` prints nothing. ``verbose=1`` shows a tqdm progress bar (when
tqdm is installed; it is optional) whose postfix carries the training loss,
its reconstruction and KL parts, and the validation ELBO; without tqdm, and
with ``verbose >= 2``, one line is printed per epoch, as scikit-learn's MLP
does. scikit-learn's own callbacks (``sklearn.callback``, scikit-learn >=
1.9) are driven by the estimator, independently of ``verbose``.
"""

import sys


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:  # optional dependency
        return None
    return tqdm


class EpochProgress:
    """Report the epochs of one call to ``fit`` or ``partial_fit``.

    Parameters
    ----------
    verbose : int
        0: silent; 1: a progress bar (plain lines without tqdm); 2 or more:
        plain lines.
    total : int or None
        The number of epochs at most (``max_iter``), for the bar.
    file : file-like, default=None
        Where to write; ``sys.stderr`` for the bar and ``sys.stdout`` for
        lines when None.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> progress = EpochProgress(verbose=2, total=3, file=out)
    >>> progress.update(1, loss=2.5, validation_score=-2.0, reconstruction=-2.25, kl=0.25)
    >>> progress.close()
    >>> print(out.getvalue().strip())
    Epoch 1, loss = 2.500000, reconstruction = 2.250000, KL = 0.250000, validation ELBO = -2.000000
    """

    def __init__(self, verbose, total, file=None):
        self.verbose = verbose
        self.file = file
        self.bar = None
        tqdm = _tqdm() if verbose == 1 else None
        if tqdm is not None:
            self.bar = tqdm(total=total, unit="epoch", file=file or sys.stderr, leave=True)

    def update(self, epoch, loss, validation_score=None, *, reconstruction=None, kl=None):
        """Report epoch ``epoch`` (counted from 1): its loss, its parts, the validation ELBO.

        ``reconstruction`` is the epoch's mean E_q[log p(x|z)] and ``kl`` its
        mean KL term (weight 1), when known; the loss is ``-reconstruction +
        kl_weight * kl``, so during the KL warm-up it is not their sum.
        """
        if not self.verbose:
            return
        parts = []
        if reconstruction is not None:
            parts.append(("reconstruction", "rec", -reconstruction))
        if kl is not None:
            parts.append(("KL", "KL", kl))
        if self.bar is not None:
            postfix = {"loss": f"{loss:.4g}"}
            postfix.update({short: f"{value:.4g}" for _, short, value in parts})
            if validation_score is not None:
                postfix["val ELBO"] = f"{validation_score:.4g}"
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(1)
            return
        message = f"Epoch {epoch}, loss = {loss:.6f}"
        message += "".join(f", {name} = {value:.6f}" for name, _, value in parts)
        if validation_score is not None:
            message += f", validation ELBO = {validation_score:.6f}"
        print(message, file=self.file or sys.stdout)

    def message(self, text):
        """Print a one-off message (e.g. why training stopped) when verbose."""
        if not self.verbose:
            return
        if self.bar is not None:
            self.bar.write(text, file=self.file or sys.stderr)
        else:
            print(text, file=self.file or sys.stdout)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
