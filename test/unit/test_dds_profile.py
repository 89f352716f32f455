import xml.etree.ElementTree as ElementTree

from competency_cf.resources import config_file
from competency_cf.ros.dds_profile import PROFILE_FILE, use_large_frame_profile

NS = {"dds": "http://www.eprosima.com"}


def test_the_profile_is_set_only_when_the_user_set_none():
    environ = {}
    assert use_large_frame_profile(environ) == str(config_file(PROFILE_FILE))
    assert environ == {"FASTDDS_DEFAULT_PROFILES_FILE": str(config_file(PROFILE_FILE))}
    own = {"FASTRTPS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"}
    assert use_large_frame_profile(own) == "/etc/mine.xml" and len(own) == 1
    other = {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}
    assert use_large_frame_profile(other) is None and len(other) == 1


def test_the_shared_memory_segment_holds_several_720p_frames():
    root = ElementTree.parse(config_file(PROFILE_FILE)).getroot()
    segment = int(root.find(".//dds:transport_descriptor/dds:segment_size", NS).text)
    assert segment >= 4 * 1280 * 720 * 3
    participant = root.find(".//dds:participant", NS)
    assert participant.get("is_default_profile") == "true"
    # The built-in transports stay: discovery and other hosts work as without the profile.
    assert participant.find(".//dds:useBuiltinTransports", NS).text == "true"
