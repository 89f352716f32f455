"""`make bench`: offline replay and the run report of a recorded drive, as a user runs them.

The drive is the domain's scripted scenario (`config/scenarios/<domain>.yaml`, about a minute) as
the sim camera renders it, enlarged to 640x480 rgb8 at 10 Hz and written by rosbags' writer with
zstd chunks (as `record --zstd` writes); the 10-minute recording plays it ten times over. Each
command runs in a child process of its own, so its wall time includes start-up and model loading,
and its peak RSS is its own.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE_HZ = 10.0
SIZE = (480, 640)  # height, width
TOPIC = "/rover1/image_raw"
REPLAY_LINE = re.compile(r"(\d+) frames, (\d+) triggers")


@dataclass
class ReplayBenchRow:
    minutes: float          # length of the recorded drive
    frames: int
    triggers: int
    replay_s: float         # `competency-cf replay` wall time, start-up and report included
    replay_rss_mb: float
    report_s: float         # `competency-cf report` of the replay's recording
    report_rss_mb: float

    @property
    def real_time_factor(self) -> float:
        return self.minutes * 60.0 / self.replay_s


def drive_frames(domain_name: str) -> list[np.ndarray]:
    """The scenario's frames as the sim camera renders them, enlarged to SIZE (rgb8)."""
    import torch

    from competency_cf.data.domains import get_domain
    from competency_cf.data.scenario import Scenario, scenario_frame
    from competency_cf.resources import config_file

    domain = get_domain(domain_name)
    scenario = Scenario.load(config_file(f"scenarios/{domain_name}.yaml"))
    frames, index = [], 0
    while (playing := scenario.at(index / RATE_HZ)) is not None:
        _, segment, factor = playing
        image = scenario_frame(domain, segment, factor, index, RATE_HZ)
        large = torch.nn.functional.interpolate(image[None], size=SIZE, mode="nearest")[0]
        frames.append((large.clamp(0, 1) * 255.0).round().to(torch.uint8)
                      .permute(1, 2, 0).numpy().copy())
        index += 1
    return frames


def write_recording(path: Path, frames: list[np.ndarray], repeats: int = 1) -> int:
    """`frames` played `repeats` times, stamped at RATE_HZ, into a zstd MCAP recording; the
    number of frames written."""
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer

    from competency_cf.bag_types import default_typestore

    store = default_typestore()
    types = store.types
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    written = 0
    with writer:
        camera = writer.add_connection(TOPIC, "sensor_msgs/msg/Image", typestore=store)
        for _ in range(repeats):
            for array in frames:
                stamp_ns = 10**9 + int(written * 1e9 / RATE_HZ)
                header = types["std_msgs/msg/Header"](
                    stamp=types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9,
                                                               nanosec=stamp_ns % 10**9),
                    frame_id="mast")
                image = types["sensor_msgs/msg/Image"](
                    header=header, height=SIZE[0], width=SIZE[1], encoding="rgb8",
                    is_bigendian=0, step=SIZE[1] * 3, data=array.reshape(-1))
                writer.write(camera, stamp_ns, store.serialize_cdr(image,
                                                                   "sensor_msgs/msg/Image"))
                written += 1
    return written


# The command as `competency-cf` runs it, then its own peak RSS (VmHWM: the high-water mark of
# the process image after exec; rusage's ru_maxrss would also count the parent it forked from).
CHILD = """
import sys
from competency_cf.cli import main
code = main(sys.argv[1:])
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
print(f"peak_rss_kb {peak}")
sys.exit(code)
"""
PEAK_LINE = re.compile(r"^peak_rss_kb (\d+)$", re.MULTILINE)


def run_measured(arguments: list[str]) -> tuple[str, float, float]:
    """`competency-cf ARGUMENTS` in a child process: its output, wall seconds and peak RSS in
    MB. A failing command raises with its output."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *arguments], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - started
    peak = PEAK_LINE.search(done.stdout)
    if done.returncode != 0 or peak is None:
        raise RuntimeError(f"competency-cf {' '.join(arguments)} exited with "
                           f"{done.returncode}:\n{done.stdout}")
    return done.stdout, seconds, int(peak.group(1)) / 1024.0


def bench_replay(domain: str, models: Path, lengths: tuple[int, ...] = (1, 10)
                 ) -> list[ReplayBenchRow]:
    """Replay and report of the drive recorded `lengths` times over (about a minute each)."""
    frames = drive_frames(domain)
    rows = []
    with tempfile.TemporaryDirectory(prefix="replay-bench-") as scratch:
        for repeats in lengths:
            recording = Path(scratch) / f"drive_{repeats}"
            count = write_recording(recording, frames, repeats)
            out = Path(scratch) / f"replay_{repeats}"
            output, replay_s, replay_rss = run_measured(
                ["replay", str(recording), "--models", str(models), "--out", str(out),
                 "--quiet"])
            found = REPLAY_LINE.search(output)
            if found is None:
                raise RuntimeError(f"no frame count in the replay's output:\n{output}")
            _, report_s, report_rss = run_measured(
                ["report", str(out / "bag"), "--out", str(Path(scratch) / f"report_{repeats}"),
                 "--quiet"])
            rows.append(ReplayBenchRow(count / RATE_HZ / 60.0, int(found.group(1)),
                                       int(found.group(2)), replay_s, replay_rss, report_s,
                                       report_rss))
    return rows


def format_replay_bench(rows: list[ReplayBenchRow], domain: str) -> str:
    lines = ["", f"## Offline replay and run report of a recorded drive: {domain}", "",
             "The scripted drive at 640x480 rgb8, 10 Hz, zstd chunks; each command in its own "
             "process (wall time includes start-up, model loading and, for replay, the report "
             "of its new recording). Descriptor explainer; fast counterfactual and 200 LGD "
             "iterations per trigger.", "",
             "| drive | frames | triggers | replay s | x real time | replay peak RSS MB | "
             "report s | report peak RSS MB |", "| --- |" + " --- |" * 7]
    lines += [f"| {r.minutes:.1f} min | {r.frames} | {r.triggers} | {r.replay_s:.1f} | "
              f"{r.real_time_factor:.1f} | {r.replay_rss_mb:.0f} | {r.report_s:.1f} | "
              f"{r.report_rss_mb:.0f} |" for r in rows]
    if len(rows) > 1:
        short, long = rows[0], rows[-1]
        lines += ["", f"Peak RSS, {long.minutes:.0f}-minute over {short.minutes:.0f}-minute "
                  f"drive: replay {long.replay_rss_mb / short.replay_rss_mb:.2f}x, report "
                  f"{long.report_rss_mb / short.report_rss_mb:.2f}x"]
    return "\n".join(lines) + "\n"
