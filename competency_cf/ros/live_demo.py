"""`make demo`: the whole graph on a scripted rover drive, live, then a report.

Runs the sim camera, perception, counterfactual and explainer nodes and the recorder in one
process, prints one status line per second, and writes to the output directory: the recording
(rosbag2 with MCAP storage, explanations.jsonl), `timeline.png` (competency over time, injected
segments shaded, triggers and explanations marked), `gallery.png` (original, counterfactual and
explanation of each trigger) and `report.md`, which states for every injected segment whether it
was detected and whether the explanation named its cause.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path


DETECTION_GRACE_S = 1.5  # a trigger this long after a segment ends still counts for it


@dataclass
class Timeline:
    """What the monitor saw, in seconds since the start of the run."""

    competency: list[tuple[float, float]] = field(default_factory=list)
    segments: list[tuple[float, int, str]] = field(default_factory=list)  # start, index, cause
    triggers: dict[tuple[int, int], dict] = field(default_factory=dict)   # stamp -> record

    def segment_windows(self, end: float) -> list[tuple[int, str, float, float]]:
        """(index, cause, start, end) of each played segment."""
        windows = []
        for position, (start, index, cause) in enumerate(self.segments):
            stop = self.segments[position + 1][0] if position + 1 < len(self.segments) else end
            windows.append((index, cause, start, stop))
        return windows


def summarize(timeline: Timeline, end: float) -> list[dict]:
    """One row per injected (non-nominal) segment: detected? explained with its cause?"""
    rows = []
    for index, cause, start, stop in timeline.segment_windows(end):
        if cause == "nominal":
            continue
        hits = [t for t in timeline.triggers.values()
                if start <= t["time"] <= stop + DETECTION_GRACE_S]
        said = [t.get("explanation", {}).get("cause") for t in hits if t.get("explanation")]
        rows.append({"segment": index, "cause": cause, "start_s": round(start, 1),
                     "end_s": round(stop, 1), "triggers": len(hits), "detected": bool(hits),
                     "explained_as": said, "cause_named": cause in said})
    return rows


def false_alarms(timeline: Timeline, end: float) -> int:
    """Triggers during nominal segments (beyond the grace period of the previous segment)."""
    count = 0
    for _, cause, start, stop in timeline.segment_windows(end):
        if cause == "nominal":
            count += sum(start + DETECTION_GRACE_S < t["time"] <= stop
                         for t in timeline.triggers.values())
    return count


def timeline_figure(timeline: Timeline, end: float, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from competency_cf.evaluation.run_report import colour

    fig, axis = plt.subplots(figsize=(11, 3.6))
    for _, cause, start, stop in timeline.segment_windows(end):
        if cause != "nominal":
            axis.axvspan(start, stop, color=colour(cause), alpha=0.25)
            axis.text((start + stop) / 2, 1.04, cause, ha="center", fontsize=8)
    if timeline.competency:
        times, values = zip(*timeline.competency)
        axis.plot(times, values, color="black", linewidth=1.0, label="competency")
    for record in timeline.triggers.values():
        axis.axvline(record["time"], color="red", linewidth=0.8)
        explanation = record.get("explanation")
        if explanation:
            axis.annotate(explanation["cause"], (record["time"], 0.05), rotation=90,
                          fontsize=7, color="red", va="bottom")
    axis.set_xlim(0, end)
    axis.set_ylim(0, 1.1)
    axis.set_xlabel("time (s)")
    axis.set_ylabel("competency")
    axis.set_title(title, pad=16)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def gallery_figure(timeline: Timeline, path: Path, title: str, limit: int = 8) -> None:
    import textwrap

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in timeline.triggers.values() if "counterfactual" in r][:limit]
    if not records:
        return
    fig, axes = plt.subplots(len(records), 3, figsize=(9, 2.6 * len(records)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 1.6]})
    for row, record in enumerate(records):
        axes[row, 0].imshow(record["frame"])
        axes[row, 0].set_title(f"t={record['time']:.1f}s  {record['competency']:.2f}",
                               fontsize=8)
        axes[row, 1].imshow(record["counterfactual"])
        detail = record.get("detail")
        axes[row, 1].set_title(f"{detail['method']} {detail['competency_after']:.2f}"
                               if detail else "", fontsize=8)
        text = record.get("explanation", {}).get("text", "(no explanation)")
        axes[row, 2].text(0.0, 0.5, "\n".join(textwrap.wrap(text, 38)), fontsize=8,
                          va="center")
        for axis in axes[row]:
            axis.axis("off")
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the title
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(timeline: Timeline, end: float, out: Path, domain: str,
                 fps: float) -> list[dict]:
    rows = summarize(timeline, end)
    timeline_figure(timeline, end, out / "timeline.png", f"{domain}: competency during the drive")
    gallery_figure(timeline, out / "gallery.png", f"{domain}: low-competency frames")
    lines = [f"# Live demo: {domain}", "",
             f"{end:.0f} s of a scripted drive, {fps:.1f} frames scored per second, "
             f"{len(timeline.triggers)} triggers, {false_alarms(timeline, end)} during nominal "
             "driving. Recording: `recording/bag` (rosbag2, MCAP), "
             "`recording/explanations.jsonl`.", "",
             "| segment | injected cause | time (s) | triggers | detected | explanations say | "
             "cause named |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| {row['segment']} | {row['cause']} | {row['start_s']}-{row['end_s']} | "
                     f"{row['triggers']} | {'yes' if row['detected'] else 'no'} | "
                     f"{', '.join(row['explained_as']) or '-'} | "
                     f"{'yes' if row['cause_named'] else 'no'} |")
    lines += ["", "![timeline](timeline.png)", "", "![gallery](gallery.png)", ""]
    (out / "report.md").write_text("\n".join(lines))
    (out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    return rows


class Monitor:
    """Subscribes to the graph's outputs and fills a Timeline."""

    def __init__(self, context=None):
        import rclpy
        from competency_cf_msgs.msg import Competency, Counterfactual, Explanation, ScenarioEvent
        from rclpy.qos import QoSProfile
        from sensor_msgs.msg import Image

        from competency_cf.ros.image_codec import to_rgb, to_rgb8
        from competency_cf.ros.recorder import message_to_dict
        from competency_cf.ros.stamps import stamp_key

        self.node = rclpy.create_node("demo_monitor", context=context)
        self.timeline = Timeline()
        self.started = time.monotonic()
        self.frames = 0
        self.last_explanation = ""
        qos = QoSProfile(depth=50)

        def now():
            return time.monotonic() - self.started

        def on_competency(msg):
            self.frames += 1
            self.timeline.competency.append((now(), float(msg.competency)))

        def on_event(msg):
            if not self.timeline.segments or self.timeline.segments[-1][1] != msg.segment:
                self.timeline.segments.append((now(), msg.segment, msg.cause))

        def on_trigger(msg):
            value = self.timeline.competency[-1][1] if self.timeline.competency else float("nan")
            self.timeline.triggers[stamp_key(msg.header)] = {
                "time": now(), "competency": value,
                "frame": to_rgb8(to_rgb(msg))}

        def on_counterfactual(msg):
            record = self.timeline.triggers.get(stamp_key(msg.header))
            if record is not None:
                record["counterfactual"] = to_rgb8(to_rgb(msg.image))
                record["detail"] = message_to_dict(msg)

        def on_explanation(msg):
            self.last_explanation = msg.text
            record = self.timeline.triggers.get(stamp_key(msg.header))
            if record is not None:
                record["explanation"] = message_to_dict(msg)

        subscriptions = [
            (Competency, "competency", on_competency),
            (ScenarioEvent, "scenario_event", on_event),
            (Image, "low_competency/image", on_trigger),
            (Counterfactual, "counterfactual/detail", on_counterfactual),
            (Explanation, "explanation/detail", on_explanation),
        ]
        for kind, topic, callback in subscriptions:
            self.node.create_subscription(kind, topic, callback, qos)

    def status(self) -> str:
        elapsed = time.monotonic() - self.started
        value = self.timeline.competency[-1][1] if self.timeline.competency else float("nan")
        cause = self.timeline.segments[-1][2] if self.timeline.segments else "-"
        return (f"[{elapsed:5.1f} s] {self.frames / max(elapsed, 1e-6):4.1f} fps  "
                f"competency {value:.2f}  segment {cause:<10s} triggers "
                f"{len(self.timeline.triggers)}  last: {self.last_explanation[:60]}")


def run_live_demo(domain: str = "lunar", out: str | Path = "demo_out",
                  extra_seconds: float = 3.0) -> int:
    import shutil

    import rclpy

    from competency_cf.data.scenario import Scenario
    from competency_cf.resources import config_file
    from competency_cf.ros.dds_profile import use_large_frame_profile
    from competency_cf.ros.executor import teardown
    from competency_cf.ros.pipeline import NODE_CLASSES, create_node, spin_nodes, start
    from competency_cf.ros.recorder import Recorder

    out = Path(out) / domain
    if (out / "recording").exists():
        shutil.rmtree(out / "recording")
    out.mkdir(parents=True, exist_ok=True)
    duration = Scenario.load(config_file(f"scenarios/{domain}.yaml")).duration
    use_large_frame_profile()
    rclpy.init(args=["demo", "--ros-args", "--params-file", str(config_file(f"{domain}.yaml"))])
    recorder = Recorder(out / "recording")
    monitor = Monitor()
    nodes = [create_node(name) for name in NODE_CLASSES]
    helpers = [recorder.node(), monitor.node]
    last_print = [0.0]

    def tick():
        if time.monotonic() - last_print[0] >= 1.0:
            last_print[0] = time.monotonic()
            print(monitor.status(), flush=True)

    camera = next(node for node in nodes if node.get_name() == "sim_camera_node")
    finished_at = []

    def done() -> bool:
        """`extra_seconds` after the scenario's last frame (which a busy host delays), for the
        last trigger's counterfactual and explanation."""
        if camera.finished and not finished_at:
            finished_at.append(time.monotonic())
        return bool(finished_at) and time.monotonic() - finished_at[0] >= extra_seconds

    try:
        if not all(start(node) for node in nodes):
            return 1
        monitor.started = time.monotonic()
        print(f"live demo: {domain}, a {duration:.0f} s scenario; Ctrl-C stops early and still "
              "writes the report", flush=True)
        spin_nodes(nodes + helpers, on_tick=tick, until=done)
    finally:
        recorder.close()
        end = time.monotonic() - monitor.started
        teardown(nodes + helpers)
    rows = write_report(monitor.timeline, end, out, domain, monitor.frames / max(end, 1e-6))
    print(f"\n{domain}: injected causes, detection and explanation")
    for row in rows:
        print(f"  {row['cause']:<11s} {row['start_s']:5.1f}-{row['end_s']:5.1f} s  "
              f"detected: {'yes' if row['detected'] else 'NO '}  explained as: "
              f"{', '.join(row['explained_as']) or '-':<24s} cause named: "
              f"{'yes' if row['cause_named'] else 'no'}")
    print(f"false alarms during nominal driving: {false_alarms(monitor.timeline, end)}")
    print(f"wrote {out}/report.md, timeline.png, gallery.png, recording/")
    return 0
