"""skvae: variational autoencoders as scikit-learn estimators, on PyTorch."""

from ._estimator import VAETransformer
from ._outlier import VAEOutlierDetector
from ._persistence import load, save

__all__ = ["VAEOutlierDetector", "VAETransformer", "load", "save"]
__version__ = "0.1.0"
