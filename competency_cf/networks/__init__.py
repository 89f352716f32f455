"""Classifier, autoencoder, weights I/O and training."""
