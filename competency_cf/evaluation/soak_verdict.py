"""The soak's frame schedule and verdict: which camera frames are degraded, and whether a run
kept its rate, dropped and counted stale frames and held its memory (`competency_cf.ros.soak`
runs the graph; `make soak` prints the verdict).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

DEGRADED_EVERY_S = 3.0  # longer than the perception node's default cooldown (2 s)
DEGRADED_FOR_S = 0.5
# Share of `max_rate_hz` perception must hold: everything in one interpreter, or the camera in a
# process of its own (as on a robot).
RATE_SHARE = {"one process": 0.90, "camera in its own process": 0.98}


def degraded(index: int, rate_hz: float) -> bool:
    """Whether camera frame `index` is a degraded one: the first `DEGRADED_FOR_S` of every
    `DEGRADED_EVERY_S`, by frame time."""
    return (index / rate_hz) % DEGRADED_EVERY_S < DEGRADED_FOR_S


@dataclass
class SoakResult:
    seconds: float
    camera_hz: float
    processed_hz: float
    target_hz: float
    dropped: int
    triggers: int
    explained: int
    rss_start_mb: float
    rss_end_mb: float
    samples: list[dict] = field(default_factory=list)
    # Perception's whole-run frame accounting, read once its nodes are down.
    received: int = 0
    scored: int = 0
    bad: int = 0     # undecodable, or scoring failed
    unread: int = 0  # the newest frame, still waiting when the run ended
    deployment: str = "one process"
    executor: str = "events"  # rclpy executor of the graph: events, or multi (multi-threaded)
    received_hz: float = 0.0  # frames perception received per second (after warm-up)
    cpu: dict[str, float] = field(default_factory=dict)  # cores used per thread group/process

    @property
    def accounted(self) -> bool:
        """Every frame perception received was scored, failed, dropped stale or left unread."""
        return self.received == self.scored + self.bad + self.dropped + self.unread

    @property
    def rss_growth(self) -> float:
        return self.rss_end_mb / self.rss_start_mb - 1.0

    def verdict(self) -> dict[str, bool]:
        expected = min(self.target_hz, self.camera_hz)
        return {"perception keeps its rate":
                self.processed_hz >= RATE_SHARE[self.deployment] * expected,
                "stale frames dropped and counted": self.accounted
                and (self.dropped > 0 or self.camera_hz <= self.target_hz),
                "RSS growth after warm-up <= 5 %": self.rss_growth <= 0.05}

    def to_markdown(self) -> str:
        lines = [f"# Soak: {self.seconds:.0f} s, {self.deployment}, {self.executor} executor", "",
                 f"- camera {self.camera_hz:.1f} Hz ({self.received_hz:.1f} Hz received); "
                 f"perception {self.processed_hz:.1f} Hz (max_rate_hz {self.target_hz:.0f}, "
                 f"{self.processed_hz / self.target_hz:.1%}; must hold "
                 f"{RATE_SHARE[self.deployment]:.0%}); dropped stale frames {self.dropped}",
                 f"- frames received {self.received} = scored {self.scored} + failed "
                 f"{self.bad} + dropped {self.dropped} + unread {self.unread}: "
                 f"{'yes' if self.accounted else 'NO'}",
                 f"- triggers {self.triggers}, explanations {self.explained}",
                 f"- RSS {self.rss_start_mb:.0f} MB after warm-up -> {self.rss_end_mb:.0f} MB "
                 f"({self.rss_growth:+.1%})", "", "| check | verdict |", "| --- | --- |"]
        lines += [f"| {name} | {'PASS' if ok else 'FAIL'} |"
                  for name, ok in self.verdict().items()]
        if self.cpu:
            lines += ["", "CPU after warm-up, in cores (1.0 = one core busy), per thread of the "
                      "graph's process and for the camera process:", "",
                      "| thread or process | cores |", "| --- | --- |"]
            lines += [f"| {name} | {cores:.2f} |" for name, cores in self.cpu.items()]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {**asdict(self), "rss_growth": self.rss_growth, "verdict": self.verdict()}
