"""Header stamps as keys and seconds: how outputs are matched to the frame they came from."""

from __future__ import annotations


def stamp_seconds(header) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def stamp_key(header) -> tuple[int, int]:
    return int(header.stamp.sec), int(header.stamp.nanosec)


def frame_key(header) -> tuple[str, int, int]:
    """One frame of one camera: cameras are told apart by frame_id (a stereo pair shares
    stamps)."""
    return (header.frame_id, *stamp_key(header))
