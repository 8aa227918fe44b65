"""Wiring: Ray actors, the streaming pipeline, the CLI and the Ray job entrypoints."""
