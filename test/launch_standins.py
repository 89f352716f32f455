"""Recording stand-ins for the parts of `launch` / `launch_ros` the launch file uses.

`launch` and `launch_ros` come with a ROS 2 install, not from PyPI. These classes take the same
arguments and record them, so the launch file's own code (its arguments, which executables it
starts, with which parameters and conditions) runs and is checked here.
"""

import sys
import types


class LaunchConfiguration:
    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context.launch_configurations[self.name]


class DeclareLaunchArgument:
    def __init__(self, name, default_value=None, description=""):
        self.name, self.default_value, self.description = name, default_value, description


class OpaqueFunction:
    def __init__(self, function):
        self.function = function

    def execute(self, context):
        return self.function(context)


class IfCondition:
    def __init__(self, predicate):
        self.predicate = predicate

    def evaluate(self, context):
        return self.predicate.perform(context).lower() in ("true", "1")


class LifecycleNode:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


class LaunchDescription:
    def __init__(self, entities):
        self.entities = list(entities)

    def get_launch_arguments(self):
        return [e for e in self.entities if isinstance(e, DeclareLaunchArgument)]


class LaunchContext:
    def __init__(self, configurations):
        self.launch_configurations = dict(configurations)


def install(monkeypatch) -> None:
    """Put the stand-ins where the launch file imports them from."""
    modules = {
        "launch": {"LaunchDescription": LaunchDescription},
        "launch.actions": {"DeclareLaunchArgument": DeclareLaunchArgument,
                           "OpaqueFunction": OpaqueFunction},
        "launch.conditions": {"IfCondition": IfCondition},
        "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration},
        "launch_ros": {},
        "launch_ros.actions": {"LifecycleNode": LifecycleNode},
    }
    for name, members in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(members)
        monkeypatch.setitem(sys.modules, name, module)
