"""skvae: variational autoencoders as scikit-learn estimators, on PyTorch."""

from ._estimator import VAETransformer
from ._impute import VAEImputer
from ._outlier import VAEOutlierDetector
from ._persistence import load, save
from ._plotting import (
    InterpolationDisplay,
    LatentSpaceDisplay,
    ManifoldDisplay,
    ReconstructionDisplay,
    SamplesDisplay,
    TrainingCurvesDisplay,
)
from ._warnings import PosteriorCollapseWarning

__all__ = [
    "InterpolationDisplay",
    "LatentSpaceDisplay",
    "ManifoldDisplay",
    "PosteriorCollapseWarning",
    "ReconstructionDisplay",
    "SamplesDisplay",
    "TrainingCurvesDisplay",
    "VAEImputer",
    "VAEOutlierDetector",
    "VAETransformer",
    "load",
    "save",
]
__version__ = "0.1.0"
