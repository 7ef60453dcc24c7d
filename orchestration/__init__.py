"""Platform layer: Ray Tune sweeps, MLflow tracking and registry. Imports tagf, never the reverse."""
