"""Switch the semantic tests to a model that learns nothing.

``scripts/check_untrained.py`` runs the semantic tests with the environment
variable ``SKVAE_UNTRAINED=1``; ``trained`` then returns parameters for the
same model with ``learning_rate=1e-12, max_iter=1`` (initial weights, initial
standardisation), and every semantic test must fail. ``untrained`` always
returns those parameters: the no-learning reference that the tests compare a
trained model against.
"""

import os

UNTRAINED_SETTINGS = {"learning_rate": 1e-12, "max_iter": 1}


def untrained(**params):
    """``params`` for the same model, kept at its initial weights."""
    return {**params, **UNTRAINED_SETTINGS}


def trained(**params):
    """``params`` as given, or ``untrained(**params)`` when ``SKVAE_UNTRAINED=1``."""
    if os.environ.get("SKVAE_UNTRAINED") == "1":
        return untrained(**params)
    return params
