"""skvae: variational autoencoders as scikit-learn estimators, on PyTorch."""

from ._estimator import VAETransformer

__all__ = ["VAETransformer"]
__version__ = "0.1.0"
