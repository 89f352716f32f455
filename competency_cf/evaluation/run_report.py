"""`competency-cf report BAG [BAG ...]`: the run report of any recording, ground truth or not.

For each recording, in one streaming pass (`bag_stream.BagStream` into
`run_summary.RunSummary`): `report.md`, `timeline.png` (competency per camera against time,
threshold, triggers labelled by cause, scripted segments shaded when the recording has them),
`causes.png` (explanations and time below threshold per cause), `gallery.png` (the lowest-
competency triggers: frame, counterfactual, explanation) and `report.html`, one self-contained
page with the figures embedded. The report opens with a global explanation of the run: how much
of it was below threshold, for which causes, in which stretches, and which causes dominate.
Several recordings are reported in parallel (local processes or a Ray cluster, `fleet.py`), with
a fleet table across them.
"""

from __future__ import annotations

import base64
import html
import math
import re
import sys
import textwrap
from pathlib import Path

from competency_cf.evaluation.bag_stream import BagStream
from competency_cf.evaluation.run_summary import UNEXPLAINED, RunSummary
from competency_cf.explain.explanation import UNSURE

DEFAULT_ROOT = Path("results") / "report"
FIGURES = ("timeline.png", "causes.png", "gallery.png")
COLOURS = {"brightness": "#d4a017", "contrast": "#9b51e0", "saturation": "#eb5757",
           "noise": "#8d6e63", "pixelation": "#2d9cdb", "spatial": "#27ae60",
           "blur": "#56ccf2", "haze": "#a5d6a7", "occlusion": "#4e342e", "glare": "#ffb300",
           UNSURE: "#757575", UNEXPLAINED: "#bdbdbd"}
EXTRA_COLOURS = ("#f2994a", "#56ccf2", "#bb6bd9", "#6fcf97", "#eb5757", "#219653")


def colour(cause: str) -> str:
    """One colour per cause in every figure (a fixed one for the known causes)."""
    if cause in COLOURS:
        return COLOURS[cause]
    return EXTRA_COLOURS[sum(cause.encode()) % len(EXTRA_COLOURS)]


def bag_name(path: str | Path) -> str:
    """A recording's name: its directory or file stem (the parent's name for the recorder's
    `<out>/bag` layout)."""
    path = Path(path).resolve()
    name = path.stem if path.is_file() else path.name
    if name == "bag" and path.parent.name:
        return path.parent.name
    return name


def unique_names(paths: list[str | Path]) -> list[str]:
    """Each recording's `bag_name`, a name met before suffixed -2, -3, ..."""
    names: list[str] = []
    for path in paths:
        name, suffix = bag_name(path), 2
        while name in names:
            name, suffix = f"{bag_name(path)}-{suffix}", suffix + 1
        names.append(name)
    return names


def output_dirs(paths: list[str | Path], out: str | Path | None,
                default_root: Path) -> tuple[Path, list[Path]]:
    """The fleet's root and each recording's output directory: one recording goes into `out`
    (default `default_root/<bag name>`), several into `<root>/<bag name>/` (root: `out`, else
    `default_root`)."""
    root = Path(out) if out is not None else default_root
    names = unique_names(paths)
    if len(names) == 1:
        return root, [Path(out) if out is not None else default_root / names[0]]
    return root, [root / name for name in names]


def summarize_bag(path: str | Path, progress: bool = False, **options) -> tuple[RunSummary,
                                                                                BagStream]:
    """Stream one recording into a finished RunSummary (options go to RunSummary)."""
    from tqdm import tqdm

    stream = BagStream(Path(path))
    summary = RunSummary(**options)
    total = stream.message_count() if progress else None
    with tqdm(total=total, unit="msg", desc=bag_name(path), disable=not progress,
              mininterval=0.5) as bar:
        for topic, time_ns, message in stream:
            summary.add(topic, time_ns, message)
            bar.update()
    return summary.finish(), stream


# --- the text --------------------------------------------------------------------------------

def _s(seconds: float) -> str:
    return f"{seconds:.1f}"


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole > 0 else "n/a"


def global_explanation(summary: RunSummary) -> list[str]:
    """The run in sentences: time below threshold, causes, stretches, dominant causes."""
    observed, low = summary.observed_s, summary.low_s
    cameras = summary.cameras
    with_samples = [c for c in cameras.values() if c.samples]
    if not with_samples:
        return ["The recording holds no competency messages, so nothing can be said about the "
                "time below threshold."]
    unit = "camera-seconds" if len(with_samples) > 1 else "s"
    sentences = [
        f"The recording covers {_s(summary.end - summary.start)} s of "
        f"{len(with_samples)} camera{'s' if len(with_samples) > 1 else ''} "
        f"({', '.join(f'`{c.name}`' for c in with_samples)}), {_s(observed)} {unit} observed; "
        f"competency was below threshold for {_s(low)} {unit} ({_pct(low, observed)}) in "
        f"{summary.stretch_count} stretch{'es' if summary.stretch_count != 1 else ''}, with "
        f"{summary.triggers} trigger{'s' if summary.triggers != 1 else ''} and "
        f"{summary.explained} explained."]
    if len(with_samples) > 1:
        sentences.append("Per camera: " + "; ".join(
            f"`{c.name}` {_pct(c.low_s, c.observed_s)} below threshold in {c.stretches} "
            f"stretch{'es' if c.stretches != 1 else ''}" for c in with_samples) + ".")
    dominant = summary.dominant_causes()
    by_time = {c: s for c, s in summary.low_by_cause.items() if s > 0}
    if dominant:
        top = dominant[0]
        share = summary.low_by_cause.get(top, 0.0)
        sentences.append(
            f"Dominant cause{'s' if len(dominant) > 1 else ''}: "
            f"{', '.join(f'**{c}**' for c in dominant)} "
            + (f"(within 10 % of each other; {top}: " if len(dominant) > 1 else "(")
            + f"{_pct(share, low)} of the time below threshold, "
            f"{_pct(share, observed)} of the drive"
            + (f", {summary.explanations[top]} of {summary.explained} explanations)."
               if summary.explained else ")."))
    elif low > 0:
        sentences.append("No explanation was recorded, so the causes are unknown.")
    others = [c for c in sorted(by_time, key=lambda c: -by_time[c]) if c not in dominant
              and c != UNEXPLAINED]
    if others:
        sentences.append("Other causes: " + ", ".join(
            f"{c} {_s(by_time[c])} {unit} ({_pct(by_time[c], low)})" for c in others) + ".")
    if by_time.get(UNEXPLAINED, 0) > 0 and (dominant or others):
        sentences.append(f"{_s(by_time[UNEXPLAINED])} {unit} ({_pct(by_time[UNEXPLAINED], low)}"
                         ") below threshold fell in stretches with no explanation recorded.")
    longest = summary.longest_stretches(3)
    if longest:
        parts = [f"`{s.camera}` {_s(s.start - summary.start)}-{_s(s.end - summary.start)} s "
                 f"({_s(s.duration)} s, lowest {s.min_competency:.2f}"
                 + (f", {', '.join(sorted(s.causes))})" if s.causes else ", unexplained)")
                 for s in longest]
        sentences.append(f"Longest stretch{'es' if len(parts) > 1 else ''}: "
                         + "; ".join(parts) + ".")
    if summary.fast_only:
        sentences.append(f"{summary.fast_only} trigger(s) had only a fast explanation recorded "
                         "(no final one); those are counted.")
    return sentences


def blocks(summary: RunSummary, stream: BagStream, name: str, figures: set[str]) -> list:
    """The report as blocks: ("h1"|"h2"|"p", text), ("table", header, rows), ("img", file)."""
    out: list = [("h1", f"Run report: {name}")]
    kinds = ", ".join(f"{n} {kind.rsplit('/', 1)[-1]}"
                      for kind, n in sorted(summary.messages.items()))
    where = f"Recording `{stream.path}`" + (
        f" ({len(stream.parts)} parts: {', '.join(part.name for part in stream.parts)})"
        if len(stream.parts) > 1 else "")
    source = (f"{where}: {stream.read} messages read ({kinds})." if summary.messages
              else f"{where}: no messages read.")
    out.append(("p", source))
    if stream.damage:
        out.append(("p", f"**Damaged recording:** {stream.damage}. This report covers the "
                         "messages before the damage."))
    for note in stream.notes:
        out.append(("p", f"Note: {note}."))
    if stream.undecodable:
        out.append(("p", f"{stream.undecodable} message(s) could not be decoded and were "
                         "skipped."))
    reordered = sum(c.reordered for c in summary.cameras.values())
    if reordered:
        out.append(("p", f"{reordered} competency message(s) arrived out of stamp order and "
                         "were held at the previous stamp."))
    out.append(("h2", "Global explanation"))
    out.extend(("p", sentence) for sentence in global_explanation(summary))
    low, observed = summary.low_s, summary.observed_s
    timed = {c for c, seconds in summary.low_by_cause.items() if seconds > 0}
    causes = sorted(set(summary.explanations) | timed,
                    key=lambda c: (-summary.low_by_cause.get(c, 0.0),
                                   -summary.explanations.get(c, 0), c))
    if causes:
        out.append(("table", ["cause", "explanations", "stretches", "time below threshold (s)",
                              "share of time below threshold", "share of the drive"],
                    [[c, str(summary.explanations.get(c, 0)),
                      str(summary.stretches_by_cause.get(c, 0)),
                      _s(summary.low_by_cause.get(c, 0.0)),
                      _pct(summary.low_by_cause.get(c, 0.0), low),
                      _pct(summary.low_by_cause.get(c, 0.0), observed)] for c in causes]))
    out.append(("h2", "Cameras"))
    rows = []
    for camera in summary.cameras.values():
        if not camera.samples and not camera.triggers:
            continue
        thresholds = ", ".join(f"{t:g}" for t in sorted(camera.thresholds)) or "-"
        rows.append([f"`{camera.name}`", str(camera.samples), _s(camera.observed_s), thresholds,
                     f"{camera.total / camera.samples:.3f}" if camera.samples else "-",
                     f"{camera.minimum:.3f}" if camera.samples else "-",
                     f"{_s(camera.low_s)} ({_pct(camera.low_s, camera.observed_s)})",
                     str(camera.stretches), str(camera.triggers)])
    out.append(("table", ["camera (frame_id)", "competency messages", "observed (s)",
                          "threshold", "mean competency", "lowest", "below threshold (s)",
                          "stretches", "triggers"], rows))
    if "timeline.png" in figures:
        out.append(("img", "timeline.png", "competency per camera over time"))
    out.append(("h2", "Low stretches"))
    longest = summary.longest_stretches(20)
    if longest:
        kept = (f" (the {len(longest)} longest of {summary.stretch_count})"
                if summary.stretch_count > len(longest) else "")
        out.append(("p", "Runs of competency below threshold, longest first" + kept
                    + "; times in seconds since the start of the recording."))
        out.append(("table", ["camera", "start (s)", "end (s)", "duration (s)", "lowest",
                              "triggers", "explained as"],
                    [[f"`{s.camera}`", _s(s.start - summary.start), _s(s.end - summary.start),
                      _s(s.duration), f"{s.min_competency:.3f}", str(s.triggers),
                      ", ".join(f"{c} x{n}" for c, n in s.causes.most_common()) or "-"]
                     for s in longest]))
    else:
        out.append(("p", "Competency never went below threshold."))
    out.append(("h2", "Causes"))
    if "causes.png" in figures:
        out.append(("img", "causes.png", "explanations and time below threshold per cause"))
    else:
        out.append(("p", "No explanations and no time below threshold: nothing to show."))
    out.append(("h2", "Gallery"))
    entries = summary.gallery_entries()
    if entries:
        out.append(("p", f"The lowest-competency triggers ({len(entries)} of "
                         f"{summary.triggers}), lowest first: trigger frame, counterfactual (the "
                         "final one when refined) and explanation."))
        if "gallery.png" in figures:
            out.append(("img", "gallery.png", "low-competency moments"))
        out.append(("table", ["camera", "time (s)", "competency", "counterfactual", "cause",
                              "explanation"],
                    [[f"`{e.camera}`", _s(e.time - summary.start),
                      "?" if math.isnan(e.competency) else f"{e.competency:.3f}",
                      f"{e.method} {e.competency_after:.3f}" if e.competency_after is not None
                      else "-", e.cause or "-", e.text or "-"] for e in entries]))
    else:
        out.append(("p", "No trigger was recorded."))
    if summary.has_ground_truth():
        out.append(("h2", "Ground truth (scripted segments)"))
        out.append(("p", "The sim camera's ScenarioEvent messages: each scripted segment, the "
                         "triggers in it and the causes they were explained with."))
        rows = []
        for camera in summary.cameras.values():
            for seg in camera.segments:
                said = ", ".join(f"{c} x{n}" for c, n in seg["explained"].most_common()) or "-"
                rows.append([f"`{seg['camera']}`", str(seg["segment"]), seg["cause"],
                             f"{seg['factor']:g}", _s(seg["start"] - summary.start),
                             _s(seg["end"] - summary.start), str(seg["triggers"]), said,
                             "-" if seg["cause"] in ("none", "nominal") else
                             ("yes" if seg["explained"].get(seg["cause"]) else "no")])
        out.append(("table", ["camera", "segment", "injected cause", "factor", "start (s)",
                              "end (s)", "triggers", "explained as", "cause named"], rows))
    return out


def to_markdown(report: list) -> str:
    lines: list[str] = []
    for block in report:
        kind = block[0]
        if kind == "h1":
            lines += [f"# {block[1]}", ""]
        elif kind == "h2":
            lines += [f"## {block[1]}", ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "img":
            lines += [f"![{block[2]}]({block[1]})", ""]
        elif kind == "table":
            header, rows = block[1], block[2]
            lines.append("| " + " | ".join(header) + " |")
            lines.append("| " + " | ".join("---" for _ in header) + " |")
            lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |"
                      for row in rows]
            lines.append("")
    return "\n".join(lines)


def _inline(text: str) -> str:
    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:0.5em 0 1.2em}th,td{border:1px solid #ccc;
padding:3px 8px;font-size:0.9em;text-align:left}th{background:#f2f2f2}img{max-width:100%;
border:1px solid #eee}code{background:#f5f5f5;padding:0 3px}"""


def to_html(report: list, directory: Path) -> str:
    """One self-contained page: the figures embedded as base64 PNG data URIs."""
    title = next((b[1] for b in report if b[0] == "h1"), "Run report")
    parts = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
             f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"]
    for block in report:
        kind = block[0]
        if kind in ("h1", "h2"):
            parts.append(f"<{kind}>{_inline(block[1])}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{_inline(block[1])}</p>")
        elif kind == "img":
            data = base64.b64encode((directory / block[1]).read_bytes()).decode("ascii")
            parts.append(f"<p><img src=\"data:image/png;base64,{data}\" "
                         f"alt=\"{html.escape(block[2])}\"></p>")
        elif kind == "table":
            parts.append("<table><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in block[1])
                         + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                      for row in block[2]]
            parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --- the figures -----------------------------------------------------------------------------

def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, title: str) -> bool:
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return True


def timeline_figure(summary: RunSummary, path: Path, title: str) -> bool:
    """Competency per camera (bucket mean, min-max band), threshold, triggers by cause."""
    cameras = [c for c in summary.cameras.values() if c.samples or c.triggers or c.segments]
    if not cameras:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(len(cameras), 1, figsize=(11, 1.2 + 2.4 * len(cameras)),
                             sharex=True, squeeze=False)
    origin, end = summary.start, summary.end - summary.start
    markers_by_camera: dict[str, list] = {}
    for (camera, _), (t, cause) in summary.markers.items():
        markers_by_camera.setdefault(camera, []).append((t - origin, cause))
    shown_causes: set[str] = set()
    for axis, camera in zip(axes[:, 0], cameras):
        for seg in camera.segments:
            if seg["cause"] not in ("none", "nominal"):
                axis.axvspan(seg["start"] - origin, max(seg["end"] - origin,
                                                        seg["start"] - origin + 0.05),
                             color=colour(seg["cause"]), alpha=0.15, linewidth=0)
                axis.text((seg["start"] + seg["end"]) / 2 - origin, 0.02,
                          f"{seg['cause']} (scripted)", ha="center", va="bottom", fontsize=7,
                          color="#555555", style="italic")
        if camera.samples:
            series = camera.series.arrays()
            times = series["time"] + camera.series.width / 2 - origin
            axis.fill_between(times, series["min"], series["max"], color="#9e9e9e", alpha=0.35,
                              linewidth=0, step="mid", label="min-max per bucket")
            axis.plot(times, series["mean"], color="black", linewidth=1.0,
                      drawstyle="steps-mid", label="competency")
            for threshold in sorted(camera.thresholds):
                axis.axhline(threshold, color="#c0392b", linestyle="--", linewidth=0.9)
        markers = markers_by_camera.get(camera.name, [])
        label = len(markers) <= 30
        for t, cause in markers:
            cause = cause or UNEXPLAINED
            shown_causes.add(cause)
            axis.axvline(t, ymax=1.0 / 1.3, color=colour(cause), linewidth=1.0, alpha=0.6)
            axis.plot([t], [1.04], marker="v", color=colour(cause), markersize=6)
            if label:
                axis.text(t, 1.08, cause, rotation=40, fontsize=7, va="bottom", ha="left",
                          color=colour(cause), rotation_mode="anchor")
        axis.set_ylim(0, 1.3)
        axis.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        axis.set_xlim(0, max(end, 1e-3))
        axis.set_ylabel("competency")
        thresholds = ", ".join(f"{t:g}" for t in sorted(camera.thresholds)) or "-"
        axis.set_title(f"{camera.name}  (threshold {thresholds}, {camera.triggers} triggers, "
                       f"{_pct(camera.low_s, camera.observed_s)} below)", fontsize=9, loc="left")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="black", linewidth=1.0, label="competency (bucket mean)"),
               Line2D([], [], color="#c0392b", linestyle="--", label="threshold")]
    handles += [Line2D([], [], color=colour(c), linewidth=1.5, label=f"trigger: {c}")
                for c in sorted(shown_causes)]
    axes[0, 0].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                      borderaxespad=0.0)
    axes[-1, 0].set_xlabel(f"time since the start of the recording (s; buckets of "
                           f"{cameras[0].series.width:g} s)")
    return _save(fig, path, title)


def causes_figure(summary: RunSummary, path: Path, title: str) -> bool:
    """Explanations per cause, and time below threshold per cause."""
    low = {c: s for c, s in summary.low_by_cause.items() if s > 0}
    counts = dict(summary.explanations)
    if not low and not counts:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.9 + 0.45 * max(len(low), len(counts), 2)))
    for axis, values, label in ((axes[0], counts, "triggers explained with the cause"),
                                (axes[1], low, "time below threshold (s)")):
        order = sorted(values, key=lambda c: values[c])
        axis.barh(order, [values[c] for c in order], color=[colour(c) for c in order])
        for position, cause in enumerate(order):
            value = values[cause]
            axis.text(value, position, f" {value:.1f}" if isinstance(value, float)
                      else f" {value}", va="center", fontsize=8)
        axis.set_xlabel(label)
        axis.margins(x=0.18)
        if not values:
            axis.text(0.5, 0.5, "none recorded", ha="center", va="center",
                      transform=axis.transAxes)
            axis.set_yticks([])
    return _save(fig, path, title)


def gallery_figure(summary: RunSummary, path: Path, title: str) -> bool:
    """One row per gallery entry: trigger frame, counterfactual, explanation."""
    entries = summary.gallery_entries()
    if not entries:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(len(entries), 3, figsize=(9, 0.5 + 2.3 * len(entries)),
                             squeeze=False, gridspec_kw={"width_ratios": [1, 1, 1.8]})
    for row, entry in enumerate(entries):
        competency = "?" if math.isnan(entry.competency) else f"{entry.competency:.2f}"
        for column, image, caption in (
                (0, entry.frame, f"{entry.camera}  t={entry.time - summary.start:.1f}s  "
                                 f"competency {competency}"),
                (1, entry.counterfactual,
                 f"{entry.method} {entry.competency_after:.2f}"
                 + ("" if entry.final_counterfactual else " (fast; no final one recorded)")
                 if entry.competency_after is not None else "no counterfactual")):
            axis = axes[row, column]
            if image is not None:
                axis.imshow(image, interpolation="nearest")
            else:
                axis.text(0.5, 0.5, "not recorded", ha="center", va="center", fontsize=8,
                          color="#888888", transform=axis.transAxes)
            axis.set_title(caption, fontsize=8)
        text = entry.text or "(no explanation recorded)"
        if entry.cause:
            text = f"[{entry.cause}] {text}"
        axes[row, 2].text(0.0, 0.5, "\n".join(textwrap.wrap(text, 44)), fontsize=8,
                          va="center", transform=axes[row, 2].transAxes)
        for axis in axes[row]:
            axis.axis("off")
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# --- one recording, many recordings ----------------------------------------------------------

def report_bag(path: str | Path, out: str | Path | None = None, progress: bool = False,
               **options) -> dict:
    """Write the report of one recording to `out` (default results/report/<bag name>/) and
    return its fleet-table row. A damaged recording is reported up to the damage, with a
    warning on stderr."""
    path = Path(path)
    name = bag_name(path)
    out = Path(out) if out is not None else DEFAULT_ROOT / name
    summary, stream = summarize_bag(path, progress=progress, **options)
    out.mkdir(parents=True, exist_ok=True)
    for stale in FIGURES:
        (out / stale).unlink(missing_ok=True)
    figures = set()
    if timeline_figure(summary, out / "timeline.png", f"{name}: competency per camera"):
        figures.add("timeline.png")
    if causes_figure(summary, out / "causes.png", f"{name}: causes of low competency"):
        figures.add("causes.png")
    if gallery_figure(summary, out / "gallery.png", f"{name}: low-competency moments"):
        figures.add("gallery.png")
    report = blocks(summary, stream, name, figures)
    (out / "report.md").write_text(to_markdown(report), encoding="utf-8")
    (out / "report.html").write_text(to_html(report, out), encoding="utf-8")
    if stream.damage:
        print(f"warning: damaged recording {path}: {stream.damage}; the report covers the "
              "messages before the damage", file=sys.stderr)
    dominant = summary.dominant_causes()
    return {"bag": name, "path": str(path), "out": str(out),
            "duration_s": (summary.end - summary.start) if summary.start is not None else 0.0,
            "cameras": sum(1 for c in summary.cameras.values() if c.samples),
            "competency_messages": sum(c.samples for c in summary.cameras.values()),
            "observed_s": summary.observed_s, "low_s": summary.low_s,
            "stretches": summary.stretch_count, "triggers": summary.triggers,
            "explanations": summary.explained, "dominant": dominant,
            "low_by_cause": dict(summary.low_by_cause), "damage": stream.damage, "error": None}


def _report_one(arguments) -> dict:
    path, out, options = arguments
    try:
        return report_bag(path, out, **options)
    except (OSError, ValueError, RuntimeError) as error:
        return _report_error(arguments, str(error))


def _report_error(arguments, message: str) -> dict:
    path, out, _ = arguments
    return {"bag": bag_name(path), "path": str(path), "out": str(out), "error": message}


def fleet_markdown(rows: list[dict]) -> str:
    lines = ["# Fleet summary", "",
             f"{len(rows)} recording(s); time below threshold in camera-seconds.", "",
             "| recording | duration (s) | cameras | competency messages | below threshold | "
             "stretches | triggers | explanations | dominant cause | damaged | report |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        if row.get("error"):
            lines.append(f"| {row['bag']} | - | - | - | - | - | - | - | - | "
                         f"error: {row['error']} | - |")
            continue
        lines.append(
            f"| {row['bag']} | {_s(row['duration_s'])} | {row['cameras']} | "
            f"{row['competency_messages']} | {_s(row['low_s'])} s "
            f"({_pct(row['low_s'], row['observed_s'])}) | {row['stretches']} | "
            f"{row['triggers']} | {row['explanations']} | {', '.join(row['dominant']) or '-'} | "
            f"{'yes' if row['damage'] else 'no'} | {row['out']}/report.md |")
    total_low = sum(r.get("low_s", 0.0) for r in rows if not r.get("error"))
    total_observed = sum(r.get("observed_s", 0.0) for r in rows if not r.get("error"))
    causes: dict[str, float] = {}
    for row in rows:
        for cause, seconds in (row.get("low_by_cause") or {}).items():
            causes[cause] = causes.get(cause, 0.0) + seconds
    lines.append("")
    lines.append(f"Across the fleet: {_s(total_low)} of {_s(total_observed)} camera-seconds "
                 f"below threshold ({_pct(total_low, total_observed)})"
                 + ("; by cause: " + ", ".join(
                     f"{c} {_s(s)} s" for c, s in sorted(causes.items(), key=lambda i: -i[1])
                     if s > 0) if any(s > 0 for s in causes.values()) else "") + ".")
    return "\n".join(lines) + "\n"


def report_bags(paths: list[str | Path], out: str | Path | None = None, jobs: int = 1,
                progress: bool = True, ray_address: str | None = None, **options) -> list[dict]:
    """Report every recording (in `jobs` local processes, or as tasks on the Ray cluster at
    `ray_address`); with more than one, also write `fleet.md` next to the reports. One report:
    into `out` itself; several: `out/<bag name>/`."""
    from competency_cf.evaluation.fleet import run_fleet

    paths = [Path(p) for p in paths]
    root, targets = output_dirs(paths, out, DEFAULT_ROOT)
    # a bar per message for one bag reported here; else a bar per bag
    alone = len(paths) == 1 and not ray_address
    work = [(path, target, {**options, "progress": progress and alone})
            for path, target in zip(paths, targets)]
    rows = run_fleet(_report_one, work, jobs=jobs, ray_address=ray_address,
                     progress=progress and not alone, error_row=_report_error)
    if len(paths) > 1:
        root.mkdir(parents=True, exist_ok=True)
        (root / "fleet.md").write_text(fleet_markdown(rows), encoding="utf-8")
    return rows
