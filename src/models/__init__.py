"""Model zoo: one small file per architecture, built by name through `registry.build`."""

from src.models.registry import build, complexity

__all__ = ["build", "complexity"]
