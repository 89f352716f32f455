"""ament_python build of competency_cf (colcon on a ROS 2 install, or pip in a venv)."""

from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE = "competency_cf"


def share(folder, pattern="*"):
    """All files under `folder` matching `pattern`, grouped by sub-folder for data_files."""
    groups = {}
    for path in sorted(glob(os.path.join(folder, "**", pattern), recursive=True)):
        if os.path.isfile(path):
            target = os.path.join("share", PACKAGE, os.path.dirname(path))
            groups.setdefault(target, []).append(path)
    return list(groups.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        *share("launch"),
        *share("config"),
        *share("models"),
    ],
    install_requires=["setuptools"],
    # fleet: `competency-cf report/replay --ray ADDRESS` on a Ray cluster
    extras_require={"gpu": ["onnxruntime-gpu>=1.18"], "fleet": ["ray>=2.40"]},
    zip_safe=True,
    maintainer="competency_cf maintainers",
    maintainer_email="maintainers@competency-cf.org",
    description="PaRCE competency, counterfactual images and explanations for ROS 2 perception.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "competency-cf = competency_cf.cli:main",
            "pipeline = competency_cf.ros.pipeline:main",
            "perception_node = competency_cf.ros.pipeline:perception_main",
            "counterfactual_node = competency_cf.ros.pipeline:counterfactual_main",
            "explainer_node = competency_cf.ros.pipeline:explainer_main",
            "sim_camera_node = competency_cf.ros.pipeline:sim_camera_main",
        ],
    },
)
