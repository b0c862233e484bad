"""``weight_decay="auto"``: the decay chosen on the validation rows of early stopping.

As ``RidgeCV`` chooses ``alpha``, a fit with ``weight_decay="auto"`` trains
one model per candidate of :data:`WEIGHT_DECAYS` and keeps the one whose
held-out ELBO (``best_validation_score_``) is highest. Every candidate
trains on the same rows, is scored on the same validation rows and starts
from the same initial weights (an integer ``random_state`` seeds each of
them, else one seed drawn from it does), so the candidates differ only in
their decay, and the model kept is the one ``weight_decay=weight_decay_``
would fit with the same integer ``random_state``. The chosen model is
kept as it is, trained on the rows outside the validation split, as with
any early-stopped fit: nothing is refitted. The cost is one fit per
candidate.
"""

import copy
from numbers import Integral

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

# The 1-2-5 series from 0.1 to 1, and no decay. Decoupled decay (AdamW)
# shrinks each weight by ``learning_rate * weight_decay`` per step.
WEIGHT_DECAYS = (0.0, 0.1, 0.2, 0.5, 1.0)

# Attributes that validate_data sets on the estimator itself, before the fit.
_INPUT_ATTRIBUTES = ("n_features_in_", "feature_names_in_")


def check_weight_decay_auto(estimator, incremental, afresh):
    """Refuse ``weight_decay="auto"`` where it has nothing to choose on or continue with.

    A fresh fit needs the validation split of ``fit`` with early stopping; a
    continued one (``warm_start``, ``partial_fit``) needs the decay an
    earlier "auto" fit chose.
    """
    if not afresh:
        if not hasattr(estimator, "weight_decay_"):
            raise ValueError(
                "weight_decay='auto' chooses the decay when a fit starts afresh; this "
                "model was fitted with weight_decay set to a number, so warm_start and "
                "partial_fit continue with that number: set it back, or fit afresh."
            )
        return
    if incremental:
        raise ValueError(
            "weight_decay='auto' chooses the decay on the validation rows of fit; "
            "partial_fit holds no rows out. Give weight_decay a number for partial_fit, "
            "or fit once with 'auto' and continue with warm_start=True."
        )
    if not estimator.early_stopping:
        raise ValueError(
            "weight_decay='auto' chooses the decay by the ELBO of the validation rows that "
            "early_stopping=True holds out; set early_stopping=True or give weight_decay "
            "a number."
        )


def fit_choosing_weight_decay(estimator, X, columns):
    """Fit ``estimator`` once per candidate decay on ``X``; keep the best one's fitted state.

    ``X`` and ``columns`` are the validated rows and their column
    description (``BaseVAE._validate_training_data``). Sets ``weight_decay_``
    and ``weight_decay_scores_`` (the best validation ELBO of each of
    ``WEIGHT_DECAYS``, -inf for a fit that ended without a finite one)
    besides the chosen fit's attributes. The caller has checked the
    settings (:func:`check_weight_decay_auto`).
    """
    seed = estimator.random_state
    if not isinstance(seed, Integral):  # None or a RandomState: one draw for all of them
        seed = int(check_random_state(seed).randint(2**31 - 1))
    inputs = {name: getattr(estimator, name) for name in _INPUT_ATTRIBUTES
              if hasattr(estimator, name)}
    best, scores = None, []
    for decay in WEIGHT_DECAYS:
        candidate = clone(estimator).set_params(weight_decay=decay, random_state=seed)
        vars(candidate).update(inputs)
        candidate._fit_validated(X, incremental=False, columns=copy.deepcopy(columns))
        score = candidate.best_validation_score_
        scores.append(float(score) if score is not None and np.isfinite(score) else -np.inf)
        if best is None or scores[-1] > max(scores[:-1]):
            best = candidate
        if getattr(candidate, "_interrupted", False):  # Ctrl-C: stop the search too
            break
    parameters = estimator.get_params(deep=False)
    fitted = {name: value for name, value in vars(best).items() if name not in parameters}
    vars(estimator).update(fitted)
    estimator.weight_decay_ = float(best.weight_decay)
    estimator.weight_decay_scores_ = np.array(
        scores + [np.nan] * (len(WEIGHT_DECAYS) - len(scores))
    )
    return estimator
