"""TAGF: time-aware gated fusion for audio-visual valence/arousal."""
