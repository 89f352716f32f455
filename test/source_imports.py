"""The imports of the package's Python files, read with ast (nothing is imported or run)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# ROS packages imported by top-level name; message and interface packages end in a suffix.
ROS_PACKAGES = {"rclpy", "launch", "launch_ros", "launch_testing", "launch_testing_ros",
                "ament_index_python", "message_filters", "rosidl_runtime_py", "rosbag2_py",
                "tf2_ros", "tf2_py", "cv_bridge", "image_geometry", "rclpy_message_converter"}
ROS_SUFFIXES = ("_msgs", "_srvs", "_interfaces")


def is_ros_package(name: str) -> bool:
    """Whether the top-level module `name` is a ROS package."""
    return name in ROS_PACKAGES or name.endswith(ROS_SUFFIXES)


@dataclass(frozen=True)
class Import:
    path: str          # relative to the repository root, with forward slashes
    line: int
    module: str        # dotted module of the statement (`from a.b import c` -> a.b)
    names: tuple[str, ...]  # what `from ... import` takes from it (empty for `import a.b`)
    module_level: bool  # runs when the file is imported, i.e. not inside a function

    @property
    def top(self) -> str:
        return self.module.split(".")[0]

    def reaches(self, package: str) -> bool:
        """Whether this imports `package` or something inside it (`from a import b` reaches
        a.b: b may be a submodule)."""
        targets = [self.module] + [f"{self.module}.{name}" for name in self.names]
        return any(t == package or t.startswith(package + ".") for t in targets)

    def __str__(self) -> str:
        where = "module level" if self.module_level else "in a function"
        statement = f"from {self.module} import {', '.join(self.names)}" if self.names \
            else f"import {self.module}"
        return f"{self.path}:{self.line}: {statement} ({where})"


def _module_of(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def file_imports(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(Import(path.relative_to(ROOT).as_posix(), child.lineno, alias.name,
                                    (), not in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                module = child.module or ""
                if child.level:  # relative: resolved against the file's package
                    package = _module_of(path)
                    package = package if path.name == "__init__.py" else package[:-1]
                    base = package[:len(package) - (child.level - 1)]
                    module = ".".join(base + ([module] if module else []))
                found.append(Import(path.relative_to(ROOT).as_posix(), child.lineno, module,
                                    tuple(alias.name for alias in child.names), not in_function))
            visit(child, in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def source_imports(*folders: str) -> list[Import]:
    """Every import statement of every .py file under `folders` (relative to the root)."""
    return [found for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))
            for found in file_imports(path)]
