"""`competency-cf report --jobs N`: several recordings reported in parallel processes."""

import pytest

from competency_cf.cli import main
from run_report_bags import record_with_recorder, record_with_rosbags

pytestmark = pytest.mark.slow

FLEET_ROW = "| 9.9 | 2 | 200 | 3.5 s (17.7 %) | 3 | 4 | 4 | brightness | no |"


def test_parallel_reports_match_the_serial_ones(tmp_path):
    bags = [record_with_recorder(tmp_path / "first"), record_with_rosbags(tmp_path / "second"),
            record_with_recorder(tmp_path / "third")]
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert main(["report", *map(str, bags), "--out", str(serial), "--quiet"]) == 0
    assert main(["report", *map(str, bags), "--out", str(parallel), "--jobs", "2",
                 "--quiet"]) == 0
    fleet = (parallel / "fleet.md").read_text()
    assert fleet.count(FLEET_ROW) == 3
    assert fleet == (serial / "fleet.md").read_text().replace(str(serial), str(parallel))
    for name in ("first", "second", "third"):
        assert (parallel / name / "report.md").read_text() == \
            (serial / name / "report.md").read_text()
