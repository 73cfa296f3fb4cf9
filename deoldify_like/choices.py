"""The fixed choices of options that several commands share, in one place, so every command's --help lists
them the same way (deoldify_like.cli_support applies them by option name)."""

DEVICES = ('auto', 'cpu', 'cuda')  # auto is CUDA when present, else CPU
PRECISIONS = ('auto', 'fp32', 'bf16', 'fp16')  # auto: bf16 where the CPU does it natively (a GPU: once its check is recorded), else fp32
FITS = ('stretch', 'pad')  # how a non-square picture fits the model's square
ENCODERS = ('resnet18', 'resnet34', 'resnet50', 'resnet101')  # torchvision encoders of the generator

OPTION_CHOICES = {'device': DEVICES, 'precision': PRECISIONS, 'fit': FITS, 'arch': ENCODERS}
