"""The NoGAN training stages on top of the core: run folder, generator pretraining, generated images,
critic pretraining, GAN burst with checkpoints, compare / pick / promote."""
