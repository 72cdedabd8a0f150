"""Distillation methods (DataDAM, PAD) and the distilled-set file format."""
