"""The robustness grid's default levels, for `tagf robustness` and params.yaml's `evaluate:` schema alike (a module of
constants only, so the command line can show them without importing torch)."""

DEFAULT_SHIFTS = (0, 5, 15, 30, 60)  # audio shifts in frames, each used as ±
DEFAULT_SNR_DB = (20.0, 10.0, 0.0)  # modality noise, signal-to-noise ratio in dB
DEFAULT_DROPOUT = (0.0, 0.25, 0.5)  # fraction of frames whose modality is dropped
