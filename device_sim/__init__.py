"""device_sim: a microscope in software (World) behind real endpoints (TCP SCPI, serial ptys)."""

from device_sim.clock import Clock
from device_sim.detector import Detector
from device_sim.errors import DeviceError
from device_sim.lasers import Laser
from device_sim.light_path import FilterWheel, Shutter
from device_sim.optics import Optics
from device_sim.rig import Rig
from device_sim.sample import Sample
from device_sim.stage import Axis, Stage
from device_sim.world import Raster, World

__all__ = [
    "Axis", "Clock", "Detector", "DeviceError", "FilterWheel", "Laser", "Optics", "Raster", "Rig",
    "Sample", "Shutter", "Stage", "World",
]
