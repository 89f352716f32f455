"""`competency-cf replay BAG [BAG ...] --models DIR`: re-score recorded drives offline.

Every frame of the recording's camera topics is scored (in batches, no clock, no DDS, nothing
dropped), the perception node's trigger (`competency.trigger.LowCompetencyTrigger`, the same
class) runs over the scores in frame order, and each trigger gets what the counterfactual and
explainer nodes would give it: the fast counterfactual (LNN and Reco, whichever reaches the
threshold, else the more competent), then LGD, each explained by the descriptor explainer from
the counterfactual as its message carries it (rgb8). LGD runs a fixed number of iterations rather
than a time budget and every trigger is seeded, so a replay gives the same result every time.
The outputs go to a new rosbag2/MCAP recording with the package's typed messages, topics named
after the camera's (`/rover1/image_raw` -> `/rover1/competency`, ...), and the recording's
ScenarioEvent ground truth is carried over; the run report of that recording is written next
to it. Two model directories give a side-by-side comparison: frames whose low flag differs,
triggers gained and lost, causes changed.

The recording is read with `bag_stream.BagStream`: rosbag2 directories or bare .mcap/.db3 files
from any writer; a damaged one is replayed up to the damage, and the replay says so. Several
recordings are replayed in parallel (local processes or a Ray cluster, `fleet.py`), each into its
own folder, with a fleet table across them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from competency_cf.evaluation.bag_stream import SCENARIO_EVENT, BagStream

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
DEFAULT_ROOT = Path("results") / "replay"
FAST_METHODS = ("LNN", "Reco")
COMPARISON_ROWS = 200  # frames listed in comparison.md at most


@dataclass
class ReplaySettings:
    """The nodes' settings that shape a replay (their defaults are the nodes')."""

    estimator: str = "auto"
    device: str = "cpu"
    threshold: float | None = None  # None: the model's (parce.json / fused.json)
    hysteresis: float = 0.02
    cooldown_s: float = 2.0
    lgd_iterations: int = 200  # 0: no refinement (the fast counterfactual is final)
    seed: int = 0
    batch_size: int = 32
    camera_topics: tuple[str, ...] = ()  # empty: every .../image_raw (compressed if no raw)


@dataclass
class FrameScore:
    topic: str
    frame_id: str
    stamp: tuple[int, int]
    competency: float
    low: bool
    class_name: str


@dataclass
class TriggerResult:
    topic: str
    frame_id: str
    stamp: tuple[int, int]
    competency: float
    methods: list[str] = field(default_factory=list)  # fast, then final
    causes: list[str] = field(default_factory=list)

    @property
    def cause(self) -> str:
        """The final explanation's cause."""
        return self.causes[-1] if self.causes else ""


@dataclass
class ReplayResult:
    source: Path
    bag: Path
    models: Path
    estimator: str
    threshold: float
    frames: list[FrameScore] = field(default_factory=list)
    triggers: list[TriggerResult] = field(default_factory=list)
    damage: str | None = None
    notes: list[str] = field(default_factory=list)
    bad_frames: int = 0
    undecodable: int = 0
    seconds: float = 0.0
    scoring_seconds: float = 0.0
    report: dict | None = None

    @property
    def frames_per_s(self) -> float:
        return len(self.frames) / self.seconds if self.seconds > 0 else 0.0


def output_prefix(camera_topic: str) -> str:
    """Where a camera's outputs go: `/rover1/image_raw` -> `/rover1/`."""
    topic = camera_topic.rstrip("/")
    for suffix in ("image_raw/compressed", "image_raw"):
        if topic.endswith(suffix):
            return topic[: -len(suffix)] or "/"
    return topic.rsplit("/", 1)[0] + "/"


class _Selection:
    """Which topics of the recording are camera frames (and the ScenarioEvents to carry)."""

    def __init__(self, requested: tuple[str, ...]):
        self.requested = {t.rstrip("/") for t in requested}
        self.raw: set[str] = set()
        self.types: dict[str, str] = {}  # selected topic -> its message type

    def __call__(self, topic: str, msgtype: str) -> bool:
        chosen = msgtype == SCENARIO_EVENT or self.is_camera(topic, msgtype)
        if chosen:
            self.types[topic] = msgtype
        return chosen

    def is_camera(self, topic: str, msgtype: str) -> bool:
        if msgtype not in (IMAGE, COMPRESSED):
            return False
        if self.requested:
            return topic.rstrip("/") in self.requested
        if msgtype == IMAGE and topic.endswith("image_raw"):
            self.raw.add(topic)
            return True
        return msgtype == COMPRESSED and topic.endswith("image_raw/compressed")

    def skip(self, topic: str) -> bool:
        """A compressed camera topic whose raw topic is replayed: the same frames twice."""
        return (not self.requested and topic.endswith("/compressed")
                and topic[: -len("/compressed")] in self.raw)


class _Outputs:
    """The new recording: typed messages serialised with rosbags' typestore."""

    def __init__(self, path: Path):
        from rosbags.rosbag2 import StoragePlugin, Writer

        from competency_cf.bag_types import default_typestore

        self.store = default_typestore()
        self.types = self.store.types
        self.writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        self.connections: dict[str, object] = {}

    def header(self, frame_id: str, stamp: tuple[int, int]):
        return self.types["std_msgs/msg/Header"](
            stamp=self.types["builtin_interfaces/msg/Time"](sec=stamp[0], nanosec=stamp[1]),
            frame_id=frame_id)

    def image(self, header, array: np.ndarray):
        array = np.ascontiguousarray(array, dtype=np.uint8)
        return self.types[IMAGE](header=header, height=array.shape[0], width=array.shape[1],
                                 encoding="rgb8", is_bigendian=0, step=array.shape[1] * 3,
                                 data=array.reshape(-1))

    def write(self, topic: str, msgtype: str, time_ns: int, message) -> None:
        if topic not in self.connections:
            self.connections[topic] = self.writer.add_connection(topic, msgtype,
                                                                 typestore=self.store)
        self.writer.write(self.connections[topic], time_ns,
                          self.store.serialize_cdr(message, msgtype))

    def close(self) -> None:
        self.writer.close()


def _stamp(header) -> tuple[int, int]:
    return int(header.stamp.sec), int(header.stamp.nanosec)


def _model_card(models: Path) -> tuple[list[str], str]:
    """Class names and the short weights hash, as the perception node reads them."""
    import json

    try:
        card = json.loads((models / "model.json").read_text())
        digest = "+".join(value[:12] for value in card["sha256"].values())
        return list(card["class_names"]), digest
    except (OSError, KeyError, ValueError, AttributeError):
        return [], "unknown"


class Replayer:
    """The perception, counterfactual and explainer nodes' work on a recording, offline."""

    def __init__(self, models: str | Path, settings: ReplaySettings | None = None):
        from competency_cf.competency.parce import load_estimator
        from competency_cf.counterfactual.methods import (LNN_BANK_FILE, LatentNearestNeighbor,
                                                          build_method)
        from competency_cf.explain.factory import build_explainer

        self.models = Path(models)
        self.settings = settings or ReplaySettings()
        device = self.settings.device
        self.estimator = load_estimator(self.models, device, kind=self.settings.estimator)
        self.threshold = (self.estimator.threshold if self.settings.threshold is None
                          else float(self.settings.threshold))
        self.size = int(self.estimator.autoencoder.config["image_size"])
        self.class_names, self.model_hash = _model_card(self.models)
        self.methods = {
            "LNN": LatentNearestNeighbor(self.estimator, device=device).load_bank(
                self.models / LNN_BANK_FILE),
            "Reco": build_method("Reco", self.estimator, device=device),
        }
        if self.settings.lgd_iterations > 0:
            lgd = build_method("LGD", self.estimator, device=device)
            # fixed iterations, no wall-clock budget: the same refinement on every host
            lgd.config = replace(lgd.config, time_budget_s=None,
                                 max_iterations=int(self.settings.lgd_iterations))
            self.methods["LGD"] = lgd
        self.explainer = build_explainer("descriptor", "", self.models, device=device)

    # --- the whole recording ---------------------------------------------------------------

    def replay(self, bag: str | Path, out: str | Path, progress: bool = False) -> ReplayResult:
        """Replay `bag` into `out/bag` (a new recording); the result holds every frame's score
        and every trigger's counterfactual methods and causes."""
        from tqdm import tqdm

        from competency_cf.competency.trigger import LowCompetencyTrigger

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        target = out / "bag"
        if target.exists():
            raise FileExistsError(f"a replay already exists at {target}")
        selection = _Selection(tuple(self.settings.camera_topics))
        stream = BagStream(Path(bag), select=selection)
        result = ReplayResult(Path(bag), target, self.models, self.estimator.name,
                              self.threshold)
        triggers: dict[str, LowCompetencyTrigger] = {}
        outputs = _Outputs(target)
        started = time.perf_counter()
        pending: list[tuple] = []
        total = stream.message_count() if progress else None
        try:
            with tqdm(total=total, unit="msg", desc="replay", disable=not progress,
                      mininterval=0.5) as bar:
                for topic, time_ns, message in stream:
                    bar.update()
                    if selection.types.get(topic) == SCENARIO_EVENT:
                        self._carry(outputs, topic, time_ns, message, pending, result, triggers)
                        continue
                    if selection.skip(topic):
                        continue
                    pending.append((topic, time_ns, message))
                    if len(pending) >= self.settings.batch_size:
                        self._score(outputs, pending, result, triggers)
                self._score(outputs, pending, result, triggers)
        finally:
            outputs.close()
        result.seconds = time.perf_counter() - started
        result.damage, result.notes = stream.damage, list(stream.notes)
        result.undecodable = stream.undecodable
        if not result.frames and not result.damage:
            result.notes.append("no camera frames found (Image on .../image_raw or "
                                "CompressedImage on .../image_raw/compressed; choose one with "
                                "--camera-topic)")
        return result

    def _carry(self, outputs, topic, time_ns, message, pending, result, triggers) -> None:
        """A ScenarioEvent goes to the new recording as it was (after the frames before it)."""
        self._score(outputs, pending, result, triggers)
        types = outputs.types
        outputs.write(topic, SCENARIO_EVENT, time_ns, types[SCENARIO_EVENT](
            header=outputs.header(message.header.frame_id, _stamp(message.header)),
            frame=int(message.frame), segment=int(message.segment), cause=str(message.cause),
            factor=float(message.factor)))

    def _score(self, outputs, pending, result, triggers) -> None:
        """Score the pending frames as one batch, then publish and trigger in frame order."""
        from competency_cf.competency.trigger import LowCompetencyTrigger
        from competency_cf.ros.image_codec import (ImageDecodeError, rgb_to_tensor, to_rgb,
                                                   to_rgb8)

        if not pending:
            return
        frames = []
        for topic, time_ns, message in pending:
            try:
                rgb = to_rgb(message)
            except ImageDecodeError as error:
                result.bad_frames += 1
                if result.bad_frames <= 5:
                    result.notes.append(f"skipped a frame of {topic}: {error}")
                continue
            frames.append((topic, time_ns, message, rgb))
        pending.clear()
        if not frames:
            return
        device = self.settings.device
        began = time.perf_counter()
        with torch.no_grad():
            tensors = torch.cat([rgb_to_tensor(rgb, self.size, device) for *_, rgb in frames])
            scores = self.estimator.evaluate(tensors)
        result.scoring_seconds += time.perf_counter() - began
        types = outputs.types
        for row, (topic, time_ns, message, rgb) in enumerate(frames):
            prefix = output_prefix(topic)
            frame_id, stamp = str(message.header.frame_id), _stamp(message.header)
            header = outputs.header(frame_id, stamp)
            competency = float(scores.competency[row])
            prediction = int(scores.prediction[row])
            label = (self.class_names[prediction] if prediction < len(self.class_names)
                     else str(prediction))
            low = competency < self.threshold
            outputs.write(f"{prefix}competency", "competency_cf_msgs/msg/Competency", time_ns,
                          types["competency_cf_msgs/msg/Competency"](
                              header=header, competency=competency,
                              p_max=float(scores.p_max[row]),
                              p_in_distribution=float(scores.p_in_distribution[row]),
                              class_id=prediction, class_name=label,
                              threshold=float(self.threshold), low=low,
                              estimator=self.estimator.name, model_hash=self.model_hash))
            result.frames.append(FrameScore(topic, frame_id, stamp, competency, low, label))
            trigger = triggers.get(topic)
            if trigger is None:
                trigger = triggers[topic] = LowCompetencyTrigger(
                    self.threshold, self.settings.hysteresis, self.settings.cooldown_s)
            if trigger.update(competency, stamp[0] + stamp[1] * 1e-9):
                outputs.write(f"{prefix}low_competency/image", IMAGE, time_ns,
                              outputs.image(header, to_rgb8(rgb)))
                result.triggers.append(self._answer(outputs, prefix, header, time_ns, topic,
                                                    tensors[row:row + 1], competency))

    def _answer(self, outputs, prefix, header, time_ns, topic, image, competency):
        """The counterfactual node's answer to one trigger, and the explainer node's."""
        from competency_cf.ros.image_codec import rgb_to_tensor

        types = outputs.types
        torch.manual_seed(self.settings.seed)
        stamp = (int(header.stamp.sec), int(header.stamp.nanosec))
        answer = TriggerResult(topic, header.frame_id, stamp, competency)
        started = time.perf_counter()
        with torch.no_grad():
            before = float(self.estimator.evaluate(image).competency[0])
        fast = [self.methods[name].generate(image) for name in FAST_METHODS]
        best = max(fast, key=lambda r: (bool(r.success[0]), float(r.competency[0])))
        generated = [(best, "LGD" not in self.methods)]
        if "LGD" in self.methods:
            generated.append((self.methods["LGD"].generate(image), True))
        for n, (counterfactual, final) in enumerate(generated):
            # As the message carries it: rgb8, and the explainer reads it back from there
            array = (counterfactual.images[0].clamp(0, 1) * 255.0).round().to(
                torch.uint8).permute(1, 2, 0).numpy()
            picture = outputs.image(header, array)
            after = float(counterfactual.competency[0])
            log_ns = time_ns + n + 1  # after the trigger frame, in answer order
            outputs.write(f"{prefix}counterfactual/image", IMAGE, log_ns, picture)
            outputs.write(f"{prefix}counterfactual/detail",
                          "competency_cf_msgs/msg/Counterfactual",
                          log_ns, types["competency_cf_msgs/msg/Counterfactual"](
                              header=header, method=counterfactual.method, image=picture,
                              competency_before=before, competency_after=after,
                              success=bool(counterfactual.success[0]),
                              iterations=int(counterfactual.iterations[0]),
                              milliseconds=(time.perf_counter() - started) * 1000.0,
                              final=final))
            paired = rgb_to_tensor(array, self.size, self.settings.device)
            explanation = self.explainer.explain(image, paired, counterfactual.method)[0]
            outputs.write(f"{prefix}explanation", "std_msgs/msg/String", log_ns,
                          types["std_msgs/msg/String"](data=explanation.text))
            outputs.write(f"{prefix}explanation/detail", "competency_cf_msgs/msg/Explanation",
                          log_ns, types["competency_cf_msgs/msg/Explanation"](
                              header=header, cause=explanation.cause,
                              direction=explanation.direction,
                              confidence=float(explanation.confidence),
                              region=explanation.region,
                              region_grid=len(explanation.region_map),
                              region_map=np.array(explanation.region_map,
                                                  np.float32).reshape(-1),
                              text=explanation.text,
                              unsure=explanation.unsure,
                              candidates=[cause for cause, _ in explanation.candidates],
                              candidate_confidences=np.array(
                                  [p for _, p in explanation.candidates], np.float32),
                              method=counterfactual.method, backend=explanation.backend,
                              competency_before=before, competency_after=after, final=final,
                              milliseconds=explanation.seconds * 1000.0))
            answer.methods.append(counterfactual.method)
            answer.causes.append(explanation.cause)
        return answer


# --- what a replay writes --------------------------------------------------------------------

def summary_markdown(result: ReplayResult) -> str:
    lines = [f"# Replay of `{result.source}`", "",
             f"Models `{result.models}` ({result.estimator} estimator, threshold "
             f"{result.threshold:.3f}); the outputs are in `{result.bag}`.", ""]
    if result.damage:
        lines += [f"**Damaged recording:** {result.damage}. The replay covers the frames "
                  "before the damage.", ""]
    lines += [f"Note: {note}." for note in result.notes]
    if result.notes:
        lines.append("")
    cameras = sorted({f.topic for f in result.frames})
    lines += ["| camera topic | frames | below threshold | triggers |",
              "| --- | --- | --- | --- |"]
    for topic in cameras:
        frames = [f for f in result.frames if f.topic == topic]
        lines.append(f"| `{topic}` | {len(frames)} | {sum(f.low for f in frames)} | "
                     f"{sum(1 for t in result.triggers if t.topic == topic)} |")
    lines += ["", f"{len(result.frames)} frames in {result.seconds:.1f} s "
              f"({result.frames_per_s:.1f} frames/s; scoring alone "
              f"{result.scoring_seconds:.1f} s); {result.bad_frames} frame(s) could not be "
              f"decoded, {result.undecodable} message(s) did not deserialise.", ""]
    if result.triggers:
        lines += ["| trigger stamp (s) | camera | competency | counterfactuals | causes |",
                  "| --- | --- | --- | --- | --- |"]
        for t in result.triggers:
            lines.append(f"| {t.stamp[0] + t.stamp[1] * 1e-9:.3f} | `{t.frame_id}` | "
                         f"{t.competency:.3f} | {', '.join(t.methods)} | "
                         f"{' -> '.join(t.causes)} |")
    return "\n".join(lines) + "\n"


def compare_markdown(a: ReplayResult, b: ReplayResult) -> str:
    """Side by side: frames whose low flag differs, triggers gained and lost, causes changed."""
    scores_a = {(f.topic, f.stamp): f for f in a.frames}
    scores_b = {(f.topic, f.stamp): f for f in b.frames}
    triggers_a = {(t.topic, t.stamp): t for t in a.triggers}
    triggers_b = {(t.topic, t.stamp): t for t in b.triggers}
    common = [key for key in scores_a if key in scores_b]
    flips = [key for key in common if scores_a[key].low != scores_b[key].low]
    gained = [key for key in triggers_b if key not in triggers_a]
    lost = [key for key in triggers_a if key not in triggers_b]
    changed = [key for key in triggers_a if key in triggers_b
               and triggers_a[key].cause != triggers_b[key].cause]
    start = min((f.stamp[0] + f.stamp[1] * 1e-9 for f in a.frames + b.frames), default=0.0)
    lines = ["# Replay comparison", "",
             f"A: `{a.models}` ({a.estimator}, threshold {a.threshold:.3f}); "
             f"B: `{b.models}` ({b.estimator}, threshold {b.threshold:.3f}); "
             f"recording `{a.source}`.", "",
             "| | A | B |", "| --- | --- | --- |",
             f"| frames | {len(a.frames)} | {len(b.frames)} |",
             f"| below threshold | {sum(f.low for f in a.frames)} | "
             f"{sum(f.low for f in b.frames)} |",
             f"| triggers | {len(a.triggers)} | {len(b.triggers)} |",
             f"| mean competency | {_mean(a.frames):.3f} | {_mean(b.frames):.3f} |", "",
             f"{len(flips)} of {len(common)} frames disagree on the low flag; B gains "
             f"{len(gained)} trigger(s) and loses {len(lost)}; {len(changed)} trigger(s) in "
             "both changed cause.", ""]
    keys = sorted(set(flips) | set(gained) | set(lost) | set(changed),
                  key=lambda k: (k[1], k[0]))
    if keys:
        lines += ["| time (s) | camera | competency A | low A | competency B | low B | "
                  "trigger A | trigger B | change |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for key in keys[:COMPARISON_ROWS]:
            fa, fb = scores_a.get(key), scores_b.get(key)
            ta, tb = triggers_a.get(key), triggers_b.get(key)
            what = []
            if key in flips:
                what.append("low flag")
            if key in gained:
                what.append("trigger gained")
            if key in lost:
                what.append("trigger lost")
            if key in changed:
                what.append("cause changed")
            frame = fa or fb
            cells = [f"{key[1][0] + key[1][1] * 1e-9 - start:.2f}", f"`{frame.frame_id}`"]
            for score in (fa, fb):
                cells += ([f"{score.competency:.3f}", "yes" if score.low else "no"] if score
                          else ["-", "-"])
            cells += [ta.cause if ta else "-", tb.cause if tb else "-", ", ".join(what)]
            lines.append("| " + " | ".join(cells) + " |")
        if len(keys) > COMPARISON_ROWS:
            lines += ["", f"({len(keys) - COMPARISON_ROWS} more rows left out.)"]
    return "\n".join(lines) + "\n"


def _mean(frames: list[FrameScore]) -> float:
    return sum(f.competency for f in frames) / len(frames) if frames else float("nan")


def replay_bag(bag: str | Path, models: list[str | Path], out: str | Path | None = None,
               settings: ReplaySettings | None = None, progress: bool = False,
               report: bool = True) -> list[ReplayResult]:
    """Replay `bag` with one or two model directories into `out` (default results/replay/<bag
    name>/; with two, `out/A/` and `out/B/` plus `out/comparison.md`), each with `bag/`,
    `replay.md` and the run report of the new recording."""
    from competency_cf.evaluation.run_report import bag_name, report_bag

    if not 1 <= len(models) <= 2:
        raise ValueError(f"replay takes one or two model directories, got {len(models)}")
    out = Path(out) if out is not None else DEFAULT_ROOT / bag_name(bag)
    targets = [out] if len(models) == 1 else [out / "A", out / "B"]
    results = []
    for models_dir, target in zip(models, targets):
        result = Replayer(models_dir, settings).replay(bag, target, progress=progress)
        if report:
            result.report = report_bag(result.bag, target / "report")
        (target / "replay.md").write_text(summary_markdown(result), encoding="utf-8")
        results.append(result)
    if len(results) == 2:
        (out / "comparison.md").write_text(compare_markdown(*results), encoding="utf-8")
    return results


# --- many recordings -------------------------------------------------------------------------

def replay_bags(bags: list[str | Path], models: list[str | Path], out: str | Path | None = None,
                settings: ReplaySettings | None = None, jobs: int = 1,
                ray_address: str | None = None, progress: bool = True,
                report: bool = True) -> list[dict]:
    """`replay_bag` for every recording (in `jobs` local processes, or as tasks on the Ray
    cluster at `ray_address`), one row each (`replay_row`). One recording: into `out` as
    `replay_bag`; several: into `out/<bag name>/` (default results/replay/), with `fleet.md`
    tabulating them."""
    from competency_cf.evaluation.fleet import run_fleet
    from competency_cf.evaluation.run_report import output_dirs

    if not 1 <= len(models) <= 2:
        raise ValueError(f"replay takes one or two model directories, got {len(models)}")
    bags = [Path(b) for b in bags]
    models = [Path(m) for m in models]
    root, targets = output_dirs(bags, out, DEFAULT_ROOT)
    # a bar per message for one recording replayed here; else a bar per recording
    alone = len(bags) == 1 and not ray_address
    work = [(bag, models, target, settings, report, progress and alone)
            for bag, target in zip(bags, targets)]
    rows = run_fleet(_replay_one, work, jobs=jobs, ray_address=ray_address,
                     progress=progress and not alone, error_row=_replay_error)
    if len(bags) > 1:
        root.mkdir(parents=True, exist_ok=True)
        (root / "fleet.md").write_text(fleet_markdown(rows, models), encoding="utf-8")
    return rows


def replay_row(bag: Path, out: Path, results: list[ReplayResult]) -> dict:
    """What the fleet table and the command line need of one recording's replay(s)."""
    from competency_cf.evaluation.run_report import bag_name

    return {"bag": bag_name(bag), "path": str(bag), "out": str(out), "error": None,
            "damage": next((r.damage for r in results if r.damage), None),
            "comparison": str(out / "comparison.md") if len(results) == 2 else None,
            "runs": [{"models": str(r.models), "out": str(r.bag.parent),
                      "frames": len(r.frames), "low": sum(f.low for f in r.frames),
                      "triggers": len(r.triggers), "frames_per_s": r.frames_per_s}
                     for r in results]}


def _replay_one(arguments) -> dict:
    bag, models, out, settings, report, progress = arguments
    try:
        results = replay_bag(bag, models, out, settings, progress=progress, report=report)
    except (OSError, ValueError, RuntimeError) as error:
        return _replay_error(arguments, str(error))
    return replay_row(Path(bag), Path(out), results)


def _replay_error(arguments, message: str) -> dict:
    from competency_cf.evaluation.run_report import bag_name

    bag, _, out, *_ = arguments
    return {"bag": bag_name(bag), "path": str(bag), "out": str(out), "error": message,
            "damage": None, "comparison": None, "runs": []}


def fleet_markdown(rows: list[dict], models: list[Path]) -> str:
    """The recordings replayed, one line per recording and models directory."""
    compared = len(models) == 2
    named = "; ".join(f"{'AB'[n]}: `{m}`" if compared else f"`{m}`"
                      for n, m in enumerate(models))
    lines = ["# Replay fleet", "", f"{len(rows)} recording(s) replayed with {named}.", "",
             "| recording | models | frames | below threshold | triggers | frames/s | "
             "damaged | replay |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        if row["error"]:
            lines.append(f"| {row['bag']} | - | - | - | - | - | error: "
                         f"{row['error'].replace('|', '/')} | - |")
            continue
        for n, run in enumerate(row["runs"]):
            label = "AB"[n] if compared else Path(run["models"]).name
            lines.append(f"| {row['bag']} | {label} | "
                         f"{run['frames']} | {run['low']} | {run['triggers']} | "
                         f"{run['frames_per_s']:.1f} | {'yes' if row['damage'] else 'no'} | "
                         f"{run['out']}/replay.md |")
    runs = [run for row in rows for run in row["runs"]]
    lines += ["", f"Across the fleet: {sum(r['frames'] for r in runs)} frames replayed, "
              f"{sum(r['low'] for r in runs)} below threshold, "
              f"{sum(r['triggers'] for r in runs)} triggers; "
              f"{sum(1 for row in rows if row['error'])} recording(s) failed, "
              f"{sum(1 for row in rows if row['damage'])} damaged."]
    return "\n".join(lines) + "\n"
