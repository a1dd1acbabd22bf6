"""A connected rig: every device of a rig file opened with its driver, keyed by name and by role; with
`simulated = true` the simulator is started as a subprocess first and the drivers are pointed at it."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from specpy.errors import ValidationError

from .base import Driver
from .rigconfig import DeviceConfig, Problem, RigConfig, RigConfigError, load_rig
from .simulator import SimulatorProcess

#: The roles the acquisition engine looks devices up by.
ROLES = ("excitation_laser", "sted_laser", "stage", "scanner", "counter", "shutter_wheel")


def default_rig_path() -> Path:
    """The simulated rig shipped with the drivers (drivers/rigs/simulated.toml): works with no hardware."""
    return Path(__file__).resolve().parent / "rigs" / "simulated.toml"


class ConnectedRig:
    """Connected drivers by device name (`devices`) and by role (`by_role`); close() also stops a simulator."""

    def __init__(self, config: RigConfig, devices: dict[str, Driver], simulator: SimulatorProcess | None):
        self.config, self.devices, self.simulator = config, devices, simulator
        self._roles = {config.devices[name].role: driver for name, driver in devices.items()}

    @property
    def name(self) -> str:
        """The rig's name."""
        return self.config.name

    def by_role(self, role: str) -> Driver:
        """The device with this role (ValidationError naming the roles there are)."""
        driver = self._roles.get(role)
        if driver is None:
            raise ValidationError(f"rig {self.name!r} has no device with role {role!r}; roles: {', '.join(self._roles)}")
        return driver

    def has_role(self, role: str) -> bool:
        """Whether a device has this role."""
        return role in self._roles

    def roles(self) -> dict[str, str]:
        """role -> device name."""
        return {role: driver.name for role, driver in self._roles.items()}

    def close(self) -> None:
        """Close every driver, then stop the simulator (idempotent)."""
        for driver in reversed(list(self.devices.values())):
            driver.close()
        if self.simulator is not None:
            self.simulator.stop()

    def __enter__(self) -> ConnectedRig:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _simulated_resource(device: DeviceConfig, simulator: SimulatorProcess, source: str) -> str:
    """The address of the device's simulated instrument, in the form its driver talks over."""
    entry = simulator.addresses.get(device.simulator)
    if entry is None:
        message = f"the simulator has no instrument {device.simulator!r}; it has: {', '.join(simulator.addresses)}"
        raise RigConfigError(source, [Problem(device.line, f"devices.{device.name}.simulator", message)])
    if "serial" in device.driver.RESOURCE_KINDS and "path" in entry:
        return entry["path"]
    return entry["resource"]


def connect_rig(rig: RigConfig | str | os.PathLike[str]) -> ConnectedRig:
    """Open every device of a rig (a RigConfig or a rig file), starting the simulator first if it is simulated."""
    config = rig if isinstance(rig, RigConfig) else load_rig(rig)
    simulator = None
    devices: dict[str, Driver] = {}
    try:
        if config.simulated:
            firmware = any(d.simulator == "shutter_wheel" for d in config.devices.values())
            simulator = SimulatorProcess(config.text, firmware=firmware)
        for name, device in config.devices.items():
            resource = _simulated_resource(device, simulator, config.source) if simulator else None
            devices[name] = device.create(resource).connect()
    except BaseException:
        for driver in reversed(list(devices.values())):
            driver.close()
        if simulator is not None:
            simulator.stop()
        raise
    return ConnectedRig(config, devices, simulator)
