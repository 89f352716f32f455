"""The one place that finds installed files: the ament index first, the source tree second."""

from __future__ import annotations

from pathlib import Path

PACKAGE = "competency_cf"
MESSAGES = "competency_cf_msgs"
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def share_dir(package: str = PACKAGE) -> Path:
    """`share/<package>` of an installed package, else where it lies in the source checkout."""
    source = SOURCE_ROOT if package == PACKAGE else SOURCE_ROOT / package
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return source
    try:
        return Path(get_package_share_directory(package))
    except (PackageNotFoundError, LookupError, OSError, ValueError):
        return source  # OSError: AMENT_PREFIX_PATH is unset, as in a plain venv


def message_definitions() -> list[Path]:
    """The .msg files of competency_cf_msgs (installed, or in the source tree)."""
    files = sorted((share_dir(MESSAGES) / "msg").glob("*.msg"))
    if not files:
        raise FileNotFoundError(f"no {MESSAGES} .msg files under {share_dir(MESSAGES)}")
    return files


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
