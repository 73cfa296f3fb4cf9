"""The NoGAN training stages on top of the core: run folder, generator pretraining, generated images,
critic pretraining, GAN burst with checkpoints, compare / pick / promote."""
import deoldify_like  # noqa: F401,E402  (first: its warning filter must precede any fastai import)
