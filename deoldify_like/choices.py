"""The fixed choices of options that several commands share, in one place, so every command's --help lists
them the same way (deoldify_like.cli_support applies them by option name)."""

DEVICES = ('auto', 'cpu', 'cuda')  # auto is CUDA when present, else CPU
# The precision table: name -> the torch dtype autocast runs the model in (None: plain fp32), read by
# deoldify_like.inference.precision.
PRECISIONS = {'fp32': None, 'bf16': 'bfloat16', 'fp16': 'float16'}
PRECISION_CHOICES = ('auto', *PRECISIONS)  # auto: bf16 where the CPU does it natively (a GPU: once its check is recorded), else fp32
FITS = ('stretch', 'pad')  # how a non-square picture fits the model's square
ENCODERS = ('resnet18', 'resnet34', 'resnet50', 'resnet101')  # torchvision encoders of the generator

OPTION_CHOICES = {'device': DEVICES, 'precision': PRECISION_CHOICES, 'fit': FITS, 'arch': ENCODERS}
