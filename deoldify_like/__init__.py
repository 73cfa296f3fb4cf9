"""deoldify_like core: colour spaces, image and film input, generator and critic models, the feature loss,
self-describing model files. Imports neither `train_stages` nor `render`."""
__version__ = '0.1.0'

from .errors import BadInputError, DeoldifyLikeError, ModelFileError, PretrainedWeightsUnavailable  # noqa: F401
