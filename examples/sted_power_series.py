"""A STED power series: one configuration per STED power, alternated by the measurement, beads fitted in each.

    python examples/sted_power_series.py [OUT_DIR]

The resolution improves with the STED power as d = d0 / sqrt(1 + P/Psat).
"""

import sys

import numpy as np

import specpy
from example_output import output_directory
from specpy.fit import fit_spots

out = output_directory(sys.argv)
powers = [0.0, 5e-3, 20e-3, 60e-3]       # STED laser output, W
pixel = 25e-9

im = specpy.get_application()
m = im.create_measurement()
first = m.active_configuration()
for index, power in enumerate(powers):
    configuration = first if index == 0 else m.clone(first)   # clone() copies the parameters and activates the copy
    configuration.set_name(f"STED {power * 1e3:g} mW")
    configuration.set_parameters("", {
        "scan": {"x": {"length": 4e-6, "pixel_size": pixel}, "y": {"length": 4e-6, "pixel_size": pixel},
                 "dwell_time": 50e-6},
        "channels": {"excitation": {"enabled": True, "power": 5e-3},
                     "sted": {"enabled": power > 0, "power": power}},
    })
im.run(m)                                # one step per configuration, in order

print(f"{'STED [mW]':>10}  {'spots':>5}  {'median FWHM [nm]':>16}")
for index, power in enumerate(powers):
    stack = m.configuration(index).stack(0)
    spots = fit_spots(stack.data()[0, 0], roi=21)            # find and fit every spot; pixel units
    good = spots[spots["status"] == 0]
    fwhm = 0.5 * (np.asarray(good["fwhm_x"]) + np.asarray(good["fwhm_y"])) * pixel
    median = f"{np.median(fwhm) * 1e9:16.1f}" if len(fwhm) else f"{'-':>16}"
    print(f"{power * 1e3:10.1f}  {len(good):5d}  {median}")

path = out / "sted_power_series.obf"
m.save_as(path)
print(f"saved {path}")
