"""Per-frame visual and audio features: backbones, built-in extractors and the extraction stage."""
