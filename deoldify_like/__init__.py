"""deoldify_like core: colour spaces, image and film input, generator and critic models, the feature loss,
self-describing model files. Imports neither `train_stages` nor `render`."""
import warnings

__version__ = '0.1.0'

# fastai 2.8 decorates a few functions with torch.jit.script when fastai.torch_core is imported, and torch
# 2.14 warns about that (a FutureWarning) on every import, in every notebook. Nothing a user can act on:
# silence exactly that message from torch's jit module. `train_stages` and `render` import this package
# first, so the filter is in place before any of them imports fastai.
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated', category=FutureWarning, module='torch.jit')

from .errors import BadInputError, DeoldifyLikeError, ModelFileError, PretrainedWeightsUnavailable  # noqa: F401
