"""Stitching, scoring, robustness grids, plots and prediction."""
