"""The fleet runner across processes: local spawn processes give the serial results, and
`competency-cf report` and `replay` with `--ray` on a local Ray head (started and stopped here)
write what the serial runs write."""

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import competency_cf
from competency_cf.cli import main
from competency_cf.evaluation.fleet import run_fleet
from competency_cf.resources import models_dir
from replay_drives import sim_frames, write_drive
from run_report_bags import record_with_recorder, record_with_rosbags
from waiting import DEADLINE_S, wait_for

pytestmark = pytest.mark.slow


def test_local_processes_give_the_serial_rows_in_item_order():
    items = [16, -1, 1, 81, 2.25]
    serial = run_fleet(math.sqrt, items)
    assert serial[1] == {"error": "ValueError: math domain error"}
    assert run_fleet(math.sqrt, items, jobs=2) == serial
    assert serial[:1] + serial[2:] == [4.0, 1.0, 9.0, 1.5]


# --- a local Ray head --------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def ray_head():
    """A one-node Ray cluster of its own (own ports, own temp dir), stopped by signalling its
    `ray start --block` process: `ray stop` would stop every Ray instance on the machine."""
    pytest.importorskip("ray")
    port = free_port()
    # short: Ray's unix sockets live under it (a socket path is at most ~107 characters)
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    root = str(Path(competency_cf.__file__).resolve().parents[1])
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0",
               PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    log = open(Path(temp) / "head.log", "w")
    head = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
         "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false",
         "--dashboard-agent-listen-port", str(free_port()), "--object-store-memory",
         str(100 * 2**20), "--disable-usage-stats", "--node-ip-address", "127.0.0.1",
         "--temp-dir", temp],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_for(lambda: accepts(port) or head.poll() is not None, DEADLINE_S, 0.2)
        assert head.poll() is None, (Path(temp) / "head.log").read_text()[-3000:]
        yield f"127.0.0.1:{port}"
    finally:
        head.send_signal(signal.SIGTERM)  # --block: stops the head's own processes, then exits
        try:
            head.wait(DEADLINE_S)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)  # anything of its group left behind
        except ProcessLookupError:
            pass
        head.wait()
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def test_reports_on_ray_match_the_serial_ones(tmp_path, ray_head):
    bags = [record_with_recorder(tmp_path / "first"), record_with_rosbags(tmp_path / "second"),
            record_with_recorder(tmp_path / "third")]
    serial, on_ray = tmp_path / "serial", tmp_path / "ray"
    assert main(["report", *map(str, bags), "--out", str(serial), "--quiet"]) == 0
    assert main(["report", *map(str, bags), "--out", str(on_ray), "--ray", ray_head,
                 "--quiet"]) == 0
    assert (on_ray / "fleet.md").read_text() == \
        (serial / "fleet.md").read_text().replace(str(serial), str(on_ray))
    for name in ("first", "second", "third"):
        assert (on_ray / name / "report.md").read_text() == \
            (serial / name / "report.md").read_text()


def without_timing(text: str) -> str:
    """A replay's Markdown without what depends on the machine's speed (frames/s, seconds)."""
    lines = []
    for line in text.splitlines():
        if " frames in " in line:  # replay.md's timing sentence
            continue
        if line.startswith("| drive"):  # fleet.md's rows: drop the frames/s column
            cells = line.split(" | ")
            line = " | ".join(cells[:5] + cells[6:])
        lines.append(line)
    return "\n".join(lines)


def test_replays_on_ray_match_the_serial_ones(tmp_path, ray_head):
    frames = sim_frames()
    bags = [write_drive(tmp_path / "drive1", frames), write_drive(tmp_path / "drive2", frames)]
    serial, on_ray = tmp_path / "serial", tmp_path / "ray"
    common = ["--models", str(models_dir("lunar")), "--lgd-iterations", "0", "--quiet"]
    assert main(["replay", *map(str, bags), "--out", str(serial), *common]) == 0
    assert main(["replay", *map(str, bags), "--out", str(on_ray), "--ray", ray_head,
                 *common]) == 0
    fleet = (on_ray / "fleet.md").read_text()
    assert fleet.count("| lunar | 35 |") == 2, fleet
    assert without_timing(fleet) == \
        without_timing((serial / "fleet.md").read_text().replace(str(serial), str(on_ray)))
    for name in ("drive1", "drive2"):
        replayed = (on_ray / name / "replay.md").read_text()
        assert "| trigger stamp (s) |" in replayed  # the darkening triggers
        assert without_timing(replayed).replace(str(on_ray), str(serial)) == \
            without_timing((serial / name / "replay.md").read_text())
        assert (on_ray / name / "report" / "report.html").is_file()
