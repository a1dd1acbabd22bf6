"""`specpy demo`: the main job end to end on the simulated rig.

Acquire beads at a series of STED powers, a z-stack and a time series; fit every bead; record
everything as targets; fit the STED law to the FWHMs and compare it with the simulator's truth;
write a PNG report and print a summary. Modules: `rig` (the rig file and its truth),
`applications` (where the application comes from), `acquisition`, `records` (database and
pipeline), `analysis` (the STED law), `report` (PNG), `summary`, `progress`, and `run`.
"""

from .analysis import StedLawFit, fit_sted_law, sted_law
from .run import DemoOptions, run_demo

__all__ = ["DemoOptions", "StedLawFit", "fit_sted_law", "run_demo", "sted_law"]
