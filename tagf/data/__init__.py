"""Corpus layout, preparation, feature store and windows."""
