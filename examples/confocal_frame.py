"""A confocal frame of the sample, saved as an .obf file.

    python examples/confocal_frame.py [OUT_DIR]

With no rig file configured, get_application() starts the simulated rig, so this runs anywhere.
"""

import sys

import specpy
from example_output import output_directory

out = output_directory(sys.argv)

im = specpy.get_application()            # the local Imspector (the simulated rig unless $SPECPY_RIG names another)
m = im.create_measurement()              # one configuration with default parameters
m.set_parameters("", {                   # every value in SI units, checked before anything moves
    "scan": {"x": {"length": 6.4e-6, "pixel_size": 50e-9},
             "y": {"length": 6.4e-6, "pixel_size": 50e-9},
             "dwell_time": 20e-6},
    "channels": {"excitation": {"enabled": True, "power": 2e-3},
                 "sted": {"enabled": False}},
})
im.run(m)                                # starts the measurement and returns when it has finished

stack = m.stack(0)                       # a Stack [x, y, z, t]; data() is numpy [t, z, y, x]
frame = stack.data()[0, 0]
print(f"{stack.name()}: {stack.shape()} pixels of {stack.pixel_size(0) * 1e9:.0f} nm, "
      f"counts mean {frame.mean():.1f}, max {frame.max()}")

path = out / "confocal_frame.obf"
m.save_as(path)                          # the stack and its configuration's parameters
print(f"saved {path}")
