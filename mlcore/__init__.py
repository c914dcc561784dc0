"""Pure PyTorch + numpy machine-learning core. Never imports Django."""
