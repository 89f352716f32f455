"""The one place that finds installed files: the ament index first, the source tree second."""

from __future__ import annotations

from pathlib import Path

PACKAGE = "competency_cf"
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def share_dir() -> Path:
    """`share/competency_cf` of an installed package, else the source checkout's root."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return SOURCE_ROOT
    try:
        return Path(get_package_share_directory(PACKAGE))
    except (PackageNotFoundError, LookupError, OSError, ValueError):
        return SOURCE_ROOT  # OSError: AMENT_PREFIX_PATH is unset, as in a plain venv


def models_dir(domain: str) -> Path:
    """Directory holding the trained models of `domain` (see models/README.md)."""
    for root in (share_dir(), SOURCE_ROOT):
        candidate = root / "models" / domain
        if (candidate / "model.json").is_file():
            return candidate
    return SOURCE_ROOT / "models" / domain


def config_file(name: str) -> Path:
    """A file from config/, installed or in the source tree."""
    for root in (share_dir(), SOURCE_ROOT):
        candidate = root / "config" / name
        if candidate.is_file():
            return candidate
    return SOURCE_ROOT / "config" / name
