"""Neural-architecture search on a distilled proxy: `python -m src.nas --proxy synthetic|full|random`."""
