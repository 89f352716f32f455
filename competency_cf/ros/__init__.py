"""ROS 2 layer: thin lifecycle nodes over the core (perception, counterfactual, explainer,
sim camera), image conversion without cv_bridge, and the recorder."""
