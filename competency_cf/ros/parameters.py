"""Declaring node parameters from one table: type, default, description, range, read-only."""

from __future__ import annotations

from dataclasses import dataclass

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                ParameterType)

from competency_cf.competency.parce import ESTIMATORS


@dataclass(frozen=True)
class Param:
    name: str
    default: object
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False

    def descriptor(self) -> ParameterDescriptor:
        kind = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
                float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING,
                list: ParameterType.PARAMETER_STRING_ARRAY}[type(self.default)]
        descriptor = ParameterDescriptor(name=self.name, type=kind, description=self.description,
                                         read_only=self.read_only)
        if self.low is not None and isinstance(self.default, float):
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(self.low), to_value=float(self.high), step=0.0)]
        elif self.low is not None and isinstance(self.default, int) and \
                not isinstance(self.default, bool):
            descriptor.integer_range = [IntegerRange(from_value=int(self.low),
                                                     to_value=int(self.high), step=1)]
        if self.choices:
            descriptor.additional_constraints = f"one of: {', '.join(self.choices)}"
        return descriptor


def declare(node, params: tuple[Param, ...]) -> None:
    for param in params:
        node.declare_parameter(param.name, param.default, param.descriptor())


def read(node, params: tuple[Param, ...]) -> dict[str, object]:
    """Current values; string choices are checked here (ROS descriptors cannot enforce them)."""
    values = {p.name: node.get_parameter(p.name).value for p in params}
    for param in params:
        if param.choices and values[param.name] not in param.choices:
            raise ValueError(f"parameter {param.name}={values[param.name]!r} is not one of "
                             f"{', '.join(param.choices)}")
    return values


COMMON = (
    Param("domain", "lunar", "built-in domain whose models and prompts to use",
          choices=("lunar", "speed"), read_only=True),
    Param("models_dir", "", "models directory (empty: the installed models/<domain>)",
          read_only=True),
    Param("device", "cpu", "torch device, e.g. cpu or cuda:0", read_only=True),
    Param("estimator", "auto", "competency estimator: parce (the paper's), fused (PaRCE with a "
          "feature-density witness, fused.json) or auto (the models' default)",
          choices=ESTIMATORS, read_only=True),
    Param("autostart", True, "configure and activate on start-up", read_only=True),
)
