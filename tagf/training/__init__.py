"""One training function for every caller (CLI, DVC stage, Ray Tune trial)."""
