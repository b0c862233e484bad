"""skvae: variational autoencoders as scikit-learn estimators, on PyTorch."""

from ._estimator import VAETransformer
from ._outlier import VAEOutlierDetector

__all__ = ["VAEOutlierDetector", "VAETransformer"]
__version__ = "0.1.0"
