"""competency_cf: PaRCE competency, counterfactual images and explanations for ROS 2 perception."""

__version__ = "0.1.0"
