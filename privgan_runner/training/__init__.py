"""Training: the adversarial step (capturable as one CUDA graph) and the loop around it."""
