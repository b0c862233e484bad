"""Models of the missingness mask, p(s | x), for data missing not at random.

The default imputer treats missingness as ignorable: it fits p(x_observed)
alone, which is right when values are missing at random (MAR) and biased
when whether a value is missing depends on the value itself (e.g. large
incomes left blank). not-MIWAE (Ipsen, Mattei & Frellsen, 2021) fits the
joint p(x_observed, s) instead, with a model of the mask given the complete
row; :class:`SelfMaskingMissingness` is its self-masking model. Plain
PyTorch: no numpy, no scikit-learn.
"""

import torch
import torch.nn.functional as F
from torch import nn


class SelfMaskingMissingness(nn.Module):
    """Each column's mask a logistic function of its own value (self-masking).

    ``P(s_j = missing | x) = sigmoid(weight_j * x_j + bias_j)``, on the
    standardised value ``x_j`` of column ``j``, independently over the
    columns. ``weight_j > 0`` says that large values go missing more often,
    ``weight_j < 0`` small ones, and ``weight_j = 0`` that the column is
    missing completely at random, at the rate ``sigmoid(bias_j)``. Both
    start at 0 and are learnt with the rest of the model.

    Parameters
    ----------
    n_columns : int
        Columns of the data, in the likelihood's order.

    Examples
    --------
    >>> import torch
    >>> missingness = SelfMaskingMissingness(2)
    >>> missingness.reset_parameters()
    >>> x_t = torch.tensor([[0.5, -1.0]])
    >>> mask = torch.tensor([[1.0, 0.0]])  # the second value is missing
    >>> missingness.log_prob(x_t, mask).detach()  # log 0.5 per column, at the start
    tensor([-1.3863])
    """

    def __init__(self, n_columns):
        super().__init__()
        self.n_columns = n_columns
        self.weight = nn.Parameter(torch.zeros(n_columns))
        self.bias = nn.Parameter(torch.zeros(n_columns))

    def reset_parameters(self, generator=None):
        """Every column missing at random at rate 1/2: weight and bias 0."""
        with torch.no_grad():
            self.weight.zero_()
            self.bias.zero_()

    def log_prob(self, x_t, mask):
        """log p(s | x) summed over the columns: ``(...)`` for ``x_t`` of ``(..., n_columns)``.

        ``x_t`` is the complete row in the standardised space (its missing
        values drawn), ``mask`` is 1 where a value is observed and 0 where
        it is missing; it broadcasts against ``x_t``.
        """
        logits = self.weight * x_t + self.bias  # the log-odds of "missing"
        observed = mask != 0
        return torch.where(observed, -F.softplus(logits), -F.softplus(-logits)).sum(-1)
