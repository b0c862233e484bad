"""A failed fit leaves the estimator exactly as it was: a snapshot to put back.

``fit``, ``partial_fit`` and a ``warm_start`` fit change the model in place:
Adam writes into the network's weights and its own moments, and the loop
appends to the fitted curves. :func:`keep_state_on_error` takes a
:class:`Snapshot` of all of it before the call and restores it, bit for bit,
if the call raises, as a scikit-learn user expects of any estimator.
"""

import functools

import torch

from ._training import copy_state


class Snapshot:
    """Everything a fit may change, copied so that a failed call can put it back.

    The attribute dictionary is copied, and so are the contents of what a
    fit changes in place: the lists the loop appends to, the network's
    weights and buffers (Adam updates them in place) and the training state
    (optimiser moments, generator, kept weights). :meth:`restore` puts the
    same objects back, with their old contents.
    """

    def __init__(self, estimator):
        self.attributes = estimator.__dict__.copy()
        self.lists = {
            name: list(value) for name, value in self.attributes.items() if isinstance(value, list)
        }
        network = self.attributes.get("network_")
        self.weights = None if network is None else copy_state(network)
        state = self.attributes.get("_training_state")
        self.training_state = None if state is None else vars(state.snapshot())

    def restore(self, estimator):
        estimator.__dict__.clear()
        estimator.__dict__.update(self.attributes)
        for name, contents in self.lists.items():
            self.attributes[name][:] = contents
        if self.weights is not None:
            with torch.no_grad():
                for name, value in estimator.network_.state_dict().items():
                    value.copy_(self.weights[name])
        if self.training_state is not None:
            vars(estimator._training_state).update(self.training_state)


def keep_state_on_error(fit_method):
    """Put back every attribute, weight and training state exactly if ``fit`` raises."""

    @functools.wraps(fit_method)
    def wrapper(self, *args, **kwargs):
        snapshot = Snapshot(self)
        try:
            return fit_method(self, *args, **kwargs)
        except BaseException:
            snapshot.restore(self)
            raise

    return wrapper
