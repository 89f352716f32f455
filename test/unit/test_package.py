"""The ament_python conventions colcon relies on."""

from pathlib import Path

from catkin_pkg.package import parse_package

from competency_cf.resources import SOURCE_ROOT, models_dir

ROOT = Path(__file__).resolve().parents[2]


def test_package_xml_is_valid_format_3_with_ros_dependencies():
    package = parse_package(str(ROOT / "package.xml"))
    package.validate()
    assert package.package_format == 3
    assert package.name == "competency_cf"
    assert package.get_build_type() == "ament_python"
    depends = {d.name for d in package.exec_depends}
    assert {"rclpy", "std_msgs", "sensor_msgs", "diagnostic_msgs", "visualization_msgs",
            "lifecycle_msgs", "ament_index_python"} <= depends


def test_resource_marker_and_setup_cfg():
    assert (ROOT / "resource" / "competency_cf").is_file()
    cfg = (ROOT / "setup.cfg").read_text()
    assert "script_dir=$base/lib/competency_cf" in cfg
    assert "install_scripts=$base/lib/competency_cf" in cfg


def test_setup_installs_share_files():
    setup_py = (ROOT / "setup.py").read_text()
    for folder in ("launch", "config", "models"):
        assert f'share("{folder}")' in setup_py
    assert "resource_index/packages" in setup_py
    assert "competency-cf = competency_cf.cli:main" in setup_py


def test_models_resolve_to_the_source_tree_when_not_installed():
    assert SOURCE_ROOT == ROOT
    assert models_dir("lunar") == ROOT / "models" / "lunar"
