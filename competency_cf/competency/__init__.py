"""PaRCE competency estimation."""
