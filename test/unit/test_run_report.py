"""`competency-cf report`: the run report of a recording, streamed, checked against numbers
worked out by hand for small recordings made here (by the package's recorder, and by rosbags'
own writer as a stand-in for `ros2 bag record -s mcap`), including one cut in half."""

import base64
import re
from types import SimpleNamespace

import numpy as np
import pytest

from competency_cf.cli import build_parser, main
from competency_cf.evaluation.bag_stream import BagStream
from competency_cf.evaluation.run_report import (bag_name, output_dirs, report_bag,
                                                 summarize_bag)
from competency_cf.evaluation.run_summary import RunSummary
from run_report_bags import BASE_S, drive, record_with_recorder, record_with_rosbags

# --- checks ------------------------------------------------------------------------------------


def check_drive(summary: RunSummary):
    front, rear = summary.cameras["front"], summary.cameras["rear"]
    assert front.samples == rear.samples == 100
    assert front.observed_s == pytest.approx(9.9) and rear.observed_s == pytest.approx(9.9)
    assert front.low_s == pytest.approx(3.0) and rear.low_s == pytest.approx(0.5)
    assert (front.stretches, rear.stretches, summary.stretch_count) == (2, 1, 3)
    assert (front.triggers, rear.triggers, summary.triggers) == (3, 1, 4)
    # one explanation per trigger: the final one, else the fast one
    assert summary.explanations == {"noise": 1, "brightness": 2, "pixelation": 1}
    assert summary.fast_only == 1 and summary.explained == 4
    low = summary.low_by_cause
    assert low["noise"] == pytest.approx(1.0) and low["brightness"] == pytest.approx(2.0)
    assert low["pixelation"] == pytest.approx(0.5) and low.get("unexplained", 0.0) == 0.0
    assert summary.dominant_causes() == ["brightness"]
    stretches = [(s.camera, round(s.start - BASE_S, 3), round(s.end - BASE_S, 3),
                  round(s.min_competency, 3), dict(s.causes), s.triggers)
                 for s in summary.longest_stretches()]
    assert stretches == [("front", 5.0, 7.0, 0.1, {"brightness": 2}, 2),
                         ("front", 2.0, 3.0, 0.3, {"noise": 1}, 1),
                         ("rear", 5.0, 5.5, 0.25, {"pixelation": 1}, 1)]


def test_summary_of_a_recorder_bag_matches_the_hand_computed_drive(tmp_path):
    bag = record_with_recorder(tmp_path / "drive")
    summary, stream = summarize_bag(bag, gallery_size=2)
    assert stream.damage is None and stream.read == len(drive())
    check_drive(summary)
    gallery = summary.gallery_entries()
    assert [(e.camera, round(e.time - BASE_S, 3), e.cause) for e in gallery] == \
        [("front", 5.0, "brightness"), ("front", 6.0, "brightness")]
    assert gallery[0].frame.shape == (48, 48, 3) and gallery[0].frame[0, 0, 0] == 90
    assert gallery[0].counterfactual.shape == (32, 32, 3) and gallery[0].final_counterfactual
    segments = [(s["cause"], s["triggers"], dict(s["explained"]))
                for s in summary.cameras["front"].segments]
    assert segments == [("none", 0, {}), ("noise", 1, {"noise": 1}), ("none", 0, {}),
                        ("brightness", 2, {"brightness": 2}), ("none", 0, {})]


def test_a_split_recording_reads_as_one_drive(tmp_path):
    """`record --split-s 3` of the drive: its directory is reported as the whole drive."""
    record_with_recorder(tmp_path / "drive", split_s=3.0)
    summary, stream = summarize_bag(tmp_path / "drive")
    assert [part.name for part in stream.parts] == ["bag", "bag_1", "bag_2", "bag_3"]
    assert stream.damage is None and stream.read == stream.message_count() == len(drive())
    check_drive(summary)
    report = report_bag(tmp_path / "drive", tmp_path / "report")
    assert "(4 parts: bag, bag_1, bag_2, bag_3)" in (tmp_path / "report" / "report.md").read_text()
    assert report["triggers"] == 4


@pytest.mark.parametrize("compress", [False, True])
def test_a_bag_from_rosbags_own_writer_reads_the_same(tmp_path, compress):
    bag = record_with_rosbags(tmp_path / "standard", compress=compress)
    summary, stream = summarize_bag(bag)
    assert stream.damage is None and stream.read == len(drive())
    check_drive(summary)
    # the bare .mcap file too
    (mcap,) = bag.glob("*.mcap")
    summary, stream = summarize_bag(mcap)
    assert stream.damage is None
    check_drive(summary)


def test_report_files_and_self_contained_html(tmp_path):
    bag = record_with_recorder(tmp_path / "drive")
    out = tmp_path / "report"
    row = report_bag(bag, out)
    assert row["bag"] == "drive" == bag_name(bag) and row["damage"] is None
    assert row["dominant"] == ["brightness"] and row["triggers"] == 4
    for name in ("report.md", "report.html", "timeline.png", "causes.png", "gallery.png"):
        assert (out / name).stat().st_size > 0, name
    markdown = (out / "report.md").read_text()
    assert "Dominant cause: **brightness** (57.1 % of the time below threshold" in markdown
    assert "below threshold for 3.5 camera-seconds (17.7 %) in 3 stretches" in markdown
    assert "| brightness | 2 | 1 | 2.0 | 57.1 % | 10.1 % |" in markdown
    assert "Ground truth" in markdown and "Damaged" not in markdown
    page = (out / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3 and 'src="timeline.png"' not in page
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for data in images)
    assert "<strong>brightness</strong>" in page


def test_a_bag_cut_in_half_reports_what_came_before_the_damage(tmp_path, capsys):
    bag = record_with_recorder(tmp_path / "drive")
    (mcap,) = bag.glob("*.mcap")
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) // 2])
    summary, stream = summarize_bag(bag)
    assert stream.damage and "cut short" in stream.damage
    assert 0 < stream.read < len(drive())
    # exactly the first messages as recorded, none after the damage
    read = [(kind, f["camera"], f["i"]) for _, _, kind, f in drive()][: stream.read]
    competency = {(c, i) for kind, c, i in read if kind == "competency"}
    assert summary.cameras["front"].samples == sum(c == "front" for c, _ in competency)
    out = tmp_path / "report"
    assert main(["report", str(bag), "--out", str(out), "--quiet"]) == 1
    assert "damaged recording" in capsys.readouterr().err
    markdown = (out / "report.md").read_text()
    assert "**Damaged recording:**" in markdown and "messages before the damage" in markdown
    assert f"{stream.read} messages read" in markdown


def test_a_cut_compressed_bag_is_a_clear_damage_note(tmp_path):
    import struct

    bag = record_with_rosbags(tmp_path / "standard", compress=True)
    (mcap,) = bag.glob("*.mcap")
    data = mcap.read_bytes()
    # cut in its index: the one zstd chunk before it is whole, every message is read
    chunk = 8 + 9 + struct.unpack_from("<Q", data, 9)[0]
    assert data[chunk] == 0x06
    chunk_end = chunk + 9 + struct.unpack_from("<Q", data, chunk + 1)[0]
    mcap.write_bytes(data[: chunk_end + 20])
    summary, stream = summarize_bag(mcap)
    assert stream.read == len(drive()) and "cut short" in stream.damage
    check_drive(summary)
    # cut inside the chunk: a compressed chunk cannot be read in part
    mcap.write_bytes(data[: (chunk + chunk_end) // 2])
    summary, stream = summarize_bag(mcap)
    assert stream.read == 0 and f"a chunk starting at byte {chunk} is incomplete" in \
        stream.damage
    assert summary.triggers == 0


FLEET_ROW = "| 9.9 | 2 | 200 | 3.5 s (17.7 %) | 3 | 4 | 4 | brightness | no |"


def test_cli_reports_several_bags_with_a_fleet_table(tmp_path):
    first = record_with_recorder(tmp_path / "first")
    second = record_with_rosbags(tmp_path / "second")
    out = tmp_path / "fleet"
    assert main(["report", str(first), str(second), "--out", str(out), "--quiet"]) == 0
    fleet = (out / "fleet.md").read_text()
    assert fleet.count(FLEET_ROW) == 2 and "| first |" in fleet and "| second |" in fleet
    assert (out / "first" / "report.html").is_file() and (out / "second" / "gallery.png").is_file()
    args = build_parser().parse_args(["report", "a", "b"])
    assert args.jobs == 1 and args.gallery == 8 and args.out is None and args.ray is None


def test_output_folders_of_one_bag_and_of_a_fleet(tmp_path):
    default = tmp_path / "results"
    one = tmp_path / "day1" / "bag"
    assert output_dirs([one], None, default) == (default, [default / "day1"])
    assert output_dirs([one], tmp_path / "here", default)[1] == [tmp_path / "here"]
    # several: one folder each, a name met twice suffixed
    (tmp_path / "day2.mcap").touch()  # a file's name is its stem
    fleet = [one, tmp_path / "day2.mcap", tmp_path / "other" / "day1" / "bag", tmp_path / "day1"]
    root, folders = output_dirs(fleet, tmp_path / "out", default)
    assert root == tmp_path / "out"
    assert [f.name for f in folders] == ["day1", "day2", "day1-2", "day1-3"]
    assert all(f.parent == root for f in folders)


def test_summary_state_stays_bounded_on_a_long_stream():
    """An hour at 50 Hz with a trigger every 20 s: counts grow, kept state does not."""
    summary = RunSummary(gallery_size=3, max_buckets=100, max_stretches=10, max_markers=50,
                         image_side=16)

    def header(i, camera="cam"):
        return SimpleNamespace(frame_id=camera, stamp=SimpleNamespace(
            sec=i // 50, nanosec=(i % 50) * 20_000_000))

    frame = np.zeros(64 * 64 * 3, np.uint8)
    stretches = 0
    for i in range(50 * 3600):
        low = i % 1000 < 100  # 2 s low every 20 s
        value = 0.1 + 0.2 * ((i // 1000) % 7) / 7 if low else 0.9
        summary.add("/competency", i, SimpleNamespace(
            __msgtype__="competency_cf_msgs/msg/Competency", header=header(i), competency=value,
            threshold=0.5))
        if i % 1000 == 0:
            stretches += 1
            summary.add("/low_competency/image", i, SimpleNamespace(
                __msgtype__="sensor_msgs/msg/Image", header=header(i), encoding="rgb8",
                height=64, width=64, step=192, data=frame))
            summary.add("/explanation/detail", i, SimpleNamespace(
                __msgtype__="competency_cf_msgs/msg/Explanation", header=header(i),
                cause="noise", final=True, text="", competency_before=value))
    summary.finish()
    camera = summary.cameras["cam"]
    assert summary.triggers == stretches == summary.stretch_count == 180
    assert camera.low_s == pytest.approx(180 * 2.0) and summary.low_by_cause["noise"] == \
        pytest.approx(360.0)
    assert len(camera.series.buckets) <= 100 and camera.series.width >= 3600 / 100
    assert len(summary.gallery) == 3 and len(summary.longest) == 10
    assert all(e.frame.shape[0] <= 16 for e in summary.gallery.values())
    assert min(e.competency for e in summary.gallery.values()) == pytest.approx(0.1)
    assert len(summary.markers) == 50 and len(camera.recent) == 0
    assert len(camera.stamps) <= 256 and len(summary._keys) <= 1024
    assert len(summary._committed) <= 1024 and not summary._pending


def test_bad_paths_are_clear_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing"), "--quiet"]) == 1
    assert "no recording at" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no .mcap"):
        BagStream(tmp_path / "empty")
