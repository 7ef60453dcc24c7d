"""A synthetic corpus in Aff-Wild2 layout with known ground truth and controlled audio-visual lags."""
