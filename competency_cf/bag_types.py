"""The rosbags typestore that decodes the package's recordings: the ROS 2 standard types plus the
competency_cf_msgs definitions, read from their .msg files (no ROS installation needed)."""

from __future__ import annotations


def own_types() -> dict:
    """rosbags type definitions of every competency_cf_msgs message, keyed by full name."""
    from rosbags.typesys import get_types_from_msg

    from competency_cf.resources import MESSAGES, message_definitions

    types = {}
    for path in message_definitions():
        types.update(get_types_from_msg(path.read_text(), f"{MESSAGES}/msg/{path.stem}"))
    return types


def register_own_types(typestore) -> None:
    """Add the competency_cf_msgs definitions to a rosbags `typestore`."""
    typestore.register(own_types())


def default_typestore():
    """A typestore with the ROS 2 Kilted types and competency_cf_msgs."""
    from rosbags.typesys import Stores, get_typestore

    typestore = get_typestore(Stores.ROS2_KILTED)
    register_own_types(typestore)
    return typestore
