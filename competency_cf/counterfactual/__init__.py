"""Counterfactual images the classifier is competent on: IGD, FGD, Reco, LGD, LNN, latent attack.

Every method has the same interface: `generate(images) -> CounterfactualResult` for a batch of
low-competency images (float32 NCHW RGB in [0, 1]).
"""
