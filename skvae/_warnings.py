"""Warnings that point at the user's line, and the warning of a collapsed fit.

scikit-learn's own wrappers (``_fit_context``) and skvae's sit between the
user's call and the place a warning is raised, at depths that differ from
method to method; :func:`warn` skips every frame of skvae and scikit-learn,
so the warning names the line of the user's code that called ``fit``.
"""

import os
import sys
import warnings

import sklearn
from sklearn.exceptions import ConvergenceWarning

_INTERNAL = tuple(
    os.path.dirname(os.path.abspath(path)) + os.sep for path in (__file__, sklearn.__file__)
)


class PosteriorCollapseWarning(ConvergenceWarning):
    """The fitted VAE uses none of its latent dimensions (posterior collapse).

    Its encoder ignores the input: every row gets the prior as its posterior,
    the reconstructions are the mean row and ``transform`` carries no
    information. Raised by ``fit`` with what to try.
    """


def warn(message, category=UserWarning):
    """``warnings.warn`` with the stack level of the first frame outside skvae and sklearn."""
    frame, level = sys._getframe(1), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
