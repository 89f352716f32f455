"""A short drive of the sim camera's frames (a darkening in the middle), written to a bag by
rosbags' own writer as `ros2 bag record` would hold it. Used by the replay tests."""

import torch

RATE_HZ = 10.0
TOPIC = "/rover1/image_raw"
# A darkening (explained as brightness by every mode, see test/ros/test_ros_graph.py)
SEGMENTS = [{"cause": "nominal", "seconds": 1.0},
            {"cause": "brightness", "seconds": 1.5, "factor": 0.4},
            {"cause": "nominal", "seconds": 1.0}]


def sim_frames():
    """(frame index, segment index, cause, factor, rgb8 frame) as the sim camera renders them."""
    from competency_cf.data.domains import get_domain
    from competency_cf.data.scenario import Scenario, scenario_frame

    domain = get_domain("lunar")
    scenario = Scenario.from_dict({"segments": SEGMENTS})
    frames, index = [], 0
    while (playing := scenario.at(index / RATE_HZ)) is not None:
        segment_index, segment, factor = playing
        image = scenario_frame(domain, segment, factor, index, RATE_HZ)
        array = (image.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
        frames.append((index, segment_index, segment.cause, factor, array))
        index += 1
    return frames


def write_drive(path, frames, compress=False):
    """The drive as `ros2 bag record` would hold it, written by rosbags alone."""
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer

    from competency_cf.bag_types import default_typestore

    store = default_typestore()
    T = store.types
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    if compress:
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer:
        camera = writer.add_connection(TOPIC, "sensor_msgs/msg/Image", typestore=store)
        events = writer.add_connection("/rover1/scenario_event",
                                       "competency_cf_msgs/msg/ScenarioEvent", typestore=store)
        for index, segment, cause, factor, array in frames:
            stamp_ns = 2_000_000_000 + int(index * 1e9 / RATE_HZ)
            header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](
                sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id="mast")
            image = T["sensor_msgs/msg/Image"](
                header=header, height=array.shape[0], width=array.shape[1], encoding="rgb8",
                is_bigendian=0, step=array.shape[1] * 3, data=array.reshape(-1))
            writer.write(camera, stamp_ns + 1000, store.serialize_cdr(image,
                                                                      "sensor_msgs/msg/Image"))
            event = T["competency_cf_msgs/msg/ScenarioEvent"](
                header=header, frame=index, segment=segment, cause=cause, factor=float(factor))
            writer.write(events, stamp_ns + 2000, store.serialize_cdr(
                event, "competency_cf_msgs/msg/ScenarioEvent"))
    return path
