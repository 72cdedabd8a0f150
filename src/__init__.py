"""ddkit: reproducible dataset distillation (DataDAM, PAD) tracked with DVC and MLflow."""

__version__ = "0.1.0"
