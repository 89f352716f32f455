"""Use the package's Fast DDS profile for large camera frames unless the user chose a profile.

Must run before the process creates its first ROS context (Fast DDS reads the variable when a
participant is created); see config/fastdds_large_frames.xml for why.
"""

from __future__ import annotations

import os

PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
PROFILE_FILE = "fastdds_large_frames.xml"


def use_large_frame_profile(environ=os.environ) -> str | None:
    """Point Fast DDS at the large-frame profile when no profile is set and Fast DDS is the
    middleware; the profile now in use (None: another middleware)."""
    from competency_cf.resources import config_file

    if environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp") != "rmw_fastrtps_cpp":
        return None
    for variable in PROFILE_VARIABLES:
        if environ.get(variable):
            return environ[variable]
    environ[PROFILE_VARIABLES[0]] = str(config_file(PROFILE_FILE))
    return environ[PROFILE_VARIABLES[0]]
