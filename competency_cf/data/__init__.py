"""Procedural domains, the six causes of low competency, and dataset I/O."""
