"""DART-Planner-shaped state types, written for these tests as
DART-Planner's ``common/types.py`` defines them: dataclasses holding pint
quantities (``DroneState``) or float64 arrays (``FastDroneState``), and an
estimate with ``pose``/``twist``. rtstate must accept them as they are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pint

ureg = pint.UnitRegistry()  # a registry of their own, not rtstate's
Q_ = ureg.Quantity


@dataclass
class DroneState:
    timestamp: float
    position: Any = field(default_factory=lambda: Q_(np.zeros(3), "m"))
    velocity: Any = field(default_factory=lambda: Q_(np.zeros(3), "m/s"))
    attitude: Any = field(default_factory=lambda: Q_(np.zeros(3), "rad"))
    angular_velocity: Any = field(default_factory=lambda: Q_(np.zeros(3), "rad/s"))
    motor_rpms: Optional[np.ndarray] = None


@dataclass
class FastDroneState:
    timestamp: float
    position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))
    attitude: np.ndarray = field(default_factory=lambda: np.zeros(3))
    angular_velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))


@dataclass
class Pose:
    position: Any
    orientation: Any  # roll, pitch, yaw


@dataclass
class Twist:
    linear: Any
    angular: Any


@dataclass
class EstimatedState:
    timestamp: float
    pose: Pose
    twist: Twist
