"""Style check with the ament_flake8 line length (99), on the whole package and its tests."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_flake8_clean(capsys):
    from flake8.api import legacy
    from flake8.main.options import JobsArgument

    # One process: flake8's worker pool forks, and a fork after DDS threads started in this
    # process (a ROS test ran first) can hang.
    style = legacy.get_style_guide(max_line_length=99, jobs=JobsArgument("1"))
    paths = [str(ROOT / name) for name in ("competency_cf", "test", "setup.py", "launch")]
    report = style.check_files(paths)
    assert report.total_errors == 0, capsys.readouterr().out
