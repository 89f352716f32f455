"""sim_camera_node: rendered frames of a domain following a scenario file, at `rate_hz`.

Topics (relative: push a namespace or remap them):
  out  image_raw    the frames (sensor data QoS)
  out  scenario_event (competency_cf_msgs/ScenarioEvent)    the segment each frame comes from

Frames are stamped with the node clock (so `use_sim_time` is honoured). The scenario advances by
frame, 1 / `rate_hz` per frame published, not by the clock: a late timer or a busy host delays
frames but never skips part of the script, so every run plays the same frames. Each frame's
segment goes out with the frame's header, so a recording holds the ground truth of every
injected cause.
"""

from __future__ import annotations

from competency_cf_msgs.msg import ScenarioEvent
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import Image

from competency_cf.ros.image_codec import tensor_to_msg
from competency_cf.ros.managed_node import ManagedNode
from competency_cf.ros.parameters import Param, declare, read

PARAMS = (
    Param("domain", "lunar", "built-in domain to render", choices=("lunar", "speed"),
          read_only=True),
    Param("scenario", "", "scenario YAML (empty: the installed config/scenarios/<domain>.yaml)",
          read_only=True),
    Param("frame_id", "camera", "header frame_id of the frames", read_only=True),
    Param("rate_hz", 5.0, "frames per second", 0.1, 60.0, read_only=True),
    Param("loop", False, "restart the scenario at its end (else stop publishing)"),
    Param("autostart", True, "configure and activate on start-up", read_only=True),
)


class SimCameraNode(ManagedNode):
    def __init__(self, name: str = "sim_camera_node", **kwargs):
        super().__init__(name, **kwargs)
        declare(self, PARAMS)
        self.frame_index = 0
        self.finished = False

    def on_configure(self, state) -> TransitionCallbackReturn:
        from competency_cf.data.domains import get_domain
        from competency_cf.data.scenario import Scenario
        from competency_cf.resources import config_file

        try:
            self.values = read(self, PARAMS)
            self.domain = get_domain(self.values["domain"])
            path = self.values["scenario"] or config_file(
                f"scenarios/{self.values['domain']}.yaml")
            self.scenario = Scenario.load(path)
        except (FileNotFoundError, ValueError) as error:
            return self.configure_failed(error)
        self.image_pub = self.lifecycle_publisher(Image, "image_raw", qos_profile_sensor_data)
        self.event_pub = self.lifecycle_publisher(ScenarioEvent, "scenario_event",
                                                  QoSProfile(depth=10))
        self.get_logger().info(f"scenario {path}: {len(self.scenario.segments)} segments, "
                               f"{self.scenario.duration:.0f} s")
        return super().on_configure(state)

    def on_activate(self, state) -> TransitionCallbackReturn:
        self.frame_index, self.finished = 0, False  # each activation plays the script again
        self.inputs = [self.create_timer(1.0 / self.values["rate_hz"], self._publish)]
        return super().on_activate(state)

    def _publish(self) -> None:
        from competency_cf.data.scenario import scenario_frame

        now = self.get_clock().now()
        playing = self.scenario.at(self.frame_index / self.values["rate_hz"],
                                   loop=self.get_parameter("loop").value)
        if playing is None:
            if not self.finished:
                self.finished = True
                self.get_logger().info("scenario finished")
            return
        index, segment, factor = playing
        frame = scenario_frame(self.domain, segment, factor, self.frame_index,
                               self.values["rate_hz"])
        msg = tensor_to_msg(frame)
        msg.header.stamp = now.to_msg()
        msg.header.frame_id = self.values["frame_id"]
        self.image_pub.publish(msg)
        self.event_pub.publish(ScenarioEvent(header=msg.header, frame=self.frame_index,
                                             segment=index, cause=segment.cause,
                                             factor=float(factor)))
        self.health.tick("frames")
        self.frame_index += 1
