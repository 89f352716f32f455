"""Sim camera scenarios shared by the graph tests."""

# Darkening: every low frame of it is explained as brightness with a wide margin in every mode
# (at x2 brighter, some frames sit near a brightness / spatial tie and a test would measure the
# explainer's coin toss, not the wiring).
DARKENING = """
segments:
  - {cause: nominal, seconds: 1.0}
  - {cause: brightness, seconds: 2.0, factor: 0.4}
  - {cause: nominal, seconds: 1.0}
"""
NOMINAL = "segments: [{cause: nominal, seconds: 1.0}]"  # competent frames at 10 Hz
