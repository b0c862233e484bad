"""scikit-learn's callback API (``sklearn.callback``, scikit-learn >= 1.9), where it exists.

The estimators report each epoch's loss and validation score to the
callbacks a user registers, and stop when one asks them to. Before
scikit-learn 1.9 there is no such API: the mixin is a stand-in and nothing
is reported.
"""

import copy

try:  # scikit-learn >= 1.9: the callback API (sklearn.callback)
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # older scikit-learn in the supported range: no callbacks

    class CallbackSupportMixin:
        """Stand-in for scikit-learn's callback mixin, absent before 1.9."""


def start_callbacks(estimator, X):
    """The root context of scikit-learn's callback API for a fit on ``X``, or None."""
    if not hasattr(estimator, "_init_callback_context"):
        return None
    context = estimator._init_callback_context(max_subtasks=None)
    context.call_on_fit_task_begin(estimator=estimator, X=X)
    return context


def epoch_callbacks(estimator, context, loss, validation_score):
    """Report one epoch to scikit-learn's callbacks; True if one asks to stop."""
    if context is None:
        return False
    epoch = context.subcontext(task_name="epoch")
    metadata = {"loss": loss, "validation_score": validation_score}
    epoch.call_on_fit_task_begin(estimator=estimator, metadata=metadata)
    return bool(
        epoch.call_on_fit_task_end(
            estimator=estimator,
            metadata=metadata,
            reconstruction_attributes=lambda: {"network_": copy.deepcopy(estimator.network_)},
        )
    )
