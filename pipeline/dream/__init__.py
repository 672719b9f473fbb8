"""Stage 2, dream: a photo and a layer -> a dreamed image. The only place torch is imported;
importing this package itself loads nothing heavy (spec and weights are torch-free)."""
