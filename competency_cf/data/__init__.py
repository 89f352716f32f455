"""Procedural domains, the six causes of low competency, dataset I/O, and the shifts independent
of them (common corruptions, pasted objects)."""
