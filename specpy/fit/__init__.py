"""specpy.fit: a PYSPEX-shaped fit session for image stacks, with a fast batch axis.

`Session` holds data, model (sectors -> components -> parameters), fits, dumps and a command
log; `fit_spots` fits every spot of an image in one call; `find_spots` finds them.
"""

from .components import COMPONENTS, FWHM_PER_SIGMA
from .engine import Status
from .errors import BoundsError, DataError, ExpressionError, ModelError, ParameterError, SessionFileError, StateError
from .plotting import PlotUnavailableError
from .results import ErrorResult, Evaluation, FitResult
from .session import Session
from .spots import find_spots, fit_spots

__all__ = [
    "BoundsError", "COMPONENTS", "DataError", "ErrorResult", "Evaluation", "ExpressionError", "FWHM_PER_SIGMA",
    "FitResult", "ModelError", "ParameterError", "PlotUnavailableError", "Session", "SessionFileError",
    "StateError", "Status", "find_spots", "fit_spots",
]
