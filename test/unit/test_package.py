"""The ament_python conventions colcon relies on, read from the package's own build
configuration (package.xml parsed, setup.py run without building, setup.cfg parsed)."""

import configparser
import os
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

from competency_cf.resources import SOURCE_ROOT, models_dir
from source_imports import is_ros_package, source_imports

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def setup_arguments():
    """What setup.py hands to setuptools.setup, as colcon's build runs it (in its folder)."""
    import runpy

    import setuptools

    captured = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(setuptools, "setup", lambda **arguments: captured.update(arguments))
        patch.chdir(ROOT)
        runpy.run_path("setup.py")
    return captured


def test_package_xml_is_valid_format_3_with_ros_dependencies():
    package = parse_package(str(ROOT / "package.xml"))
    package.validate()
    assert package.package_format == 3
    assert package.name == "competency_cf"
    assert package.get_build_type() == "ament_python"
    depends = {d.name for d in package.exec_depends}
    assert {"rclpy", "std_msgs", "sensor_msgs", "diagnostic_msgs", "ament_index_python",
            "launch", "launch_ros"} <= depends


# The module each python3- rosdep key of package.xml provides.
PYTHON_KEYS = {"python3-numpy": "numpy", "python3-scipy": "scipy", "python3-pil": "PIL",
               "python3-yaml": "yaml", "python3-tqdm": "tqdm", "python3-matplotlib": "matplotlib",
               "python3-safetensors-pip": "safetensors", "python3-torch": "torch"}


def _exec_depends() -> set[str]:
    return {d.name for d in parse_package(str(ROOT / "package.xml")).exec_depends}


def test_package_xml_declares_exactly_the_ros_packages_the_code_imports():
    """Every ROS package imported in competency_cf/ or launch/, at module level or inside a
    function, is an exec_depend, and every ROS exec_depend is imported somewhere."""
    declared = _exec_depends()
    imported = {}  # package -> its first import
    for found in source_imports("competency_cf", "launch"):
        if is_ros_package(found.top):
            imported.setdefault(found.top, str(found))
    missing = [where for name, where in sorted(imported.items()) if name not in declared]
    assert not missing, "imported, but not an exec_depend in package.xml:\n" + "\n".join(missing)
    unused = sorted(name for name in declared if is_ros_package(name)
                    and name not in imported)
    assert not unused, f"exec_depend in package.xml that nothing imports: {unused}"


def test_every_python_dependency_of_package_xml_is_imported():
    python = {name for name in _exec_depends() if name.startswith("python3-")}
    assert python <= set(PYTHON_KEYS), \
        f"add the module of {sorted(python - set(PYTHON_KEYS))} to PYTHON_KEYS"
    imported = {found.top for found in source_imports("competency_cf", "launch")}
    unused = sorted(key for key in python if PYTHON_KEYS[key] not in imported)
    assert not unused, f"python3- exec_depend in package.xml that nothing imports: {unused}"


def test_scripts_install_where_ros2_run_looks():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["develop"]["script_dir"] == "$base/lib/competency_cf"
    assert cfg["install"]["install_scripts"] == "$base/lib/competency_cf"


def test_install_holds_the_marker_launch_config_and_models(setup_arguments):
    installed = {os.path.join(target, os.path.basename(source))
                 for target, sources in setup_arguments["data_files"] for source in sources}
    assert "share/ament_index/resource_index/packages/competency_cf" in installed
    assert (ROOT / "resource" / "competency_cf").is_file()
    share = Path("share/competency_cf")
    for path in ["package.xml", "launch/competency_cf.launch.py", "config/lunar.yaml",
                 "config/speed.yaml", "config/competency_cf.rviz", "models/lunar/parce.json",
                 "models/speed/classifier.safetensors"]:
        assert str(share / path) in installed, path
    # Every file of launch/, config/ and models/ is installed.
    tracked = {str(share / path.relative_to(ROOT)) for folder in ("launch", "config", "models")
               for path in (ROOT / folder).rglob("*") if path.is_file()}
    assert tracked <= installed


def test_console_scripts_point_at_importable_functions(setup_arguments):
    import importlib

    scripts = dict(line.split(" = ") for line in
                   setup_arguments["entry_points"]["console_scripts"])
    assert {"competency-cf", "pipeline", "perception_node", "counterfactual_node",
            "explainer_node", "sim_camera_node"} <= set(scripts)
    for target in scripts.values():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), target


def test_models_resolve_to_the_source_tree_when_not_installed():
    assert SOURCE_ROOT == ROOT
    assert models_dir("lunar") == ROOT / "models" / "lunar"
