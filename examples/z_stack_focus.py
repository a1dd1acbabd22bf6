"""A z-stack driven by step callbacks: after every frame a callback moves the focus for the next one.

    python examples/z_stack_focus.py [OUT_DIR]

The measurement takes one frame per step (time points); the end-of-step callback (flag 1) runs on
the acquisition thread between steps, notes how bright the frame was and sets the next focus.
The stack's t axis is therefore the focus position of each frame.
"""

import sys

import numpy as np

import specpy
from example_output import output_directory

out = output_directory(sys.argv)
focus = np.linspace(-1.0e-6, 1.0e-6, 9)  # stage z positions, m

im = specpy.get_application()
m = im.create_measurement()
m.set_parameters("", {
    "scan": {"axes": "xyz",                                     # 'xyz' moves the stage in z for each step
             "x": {"length": 4e-6, "pixel_size": 50e-9}, "y": {"length": 4e-6, "pixel_size": 50e-9},
             "z": {"offset": float(focus[0]), "length": 250e-9, "pixel_size": 250e-9},  # one slice at the offset
             "dwell_time": 20e-6},
    "channels": {"excitation": {"enabled": True, "power": 2e-3}},
    "steps": {"time_points": len(focus)},
})
brightness = []


def adjust_focus():
    """After each step: measure the frame just taken, then set the focus of the next step."""
    step = len(brightness)
    frame = im.current_measurement().stack(0).data()[step, 0]
    brightness.append(float(frame.mean()))
    print(f"  step {step + 1}/{len(focus)}: z = {focus[step] * 1e6:+.2f} um, mean counts {brightness[-1]:.2f}")
    if step + 1 < len(focus):
        m.set_parameters("scan/z/offset", float(focus[step + 1]))  # allowed between steps, from a callback


im.connect_end(adjust_focus, 1)          # flag 1: the end of every step
try:
    im.run(m)
finally:
    im.disconnect_end(adjust_focus, 1)

best = focus[int(np.argmax(brightness))]
print(f"brightest frame at z = {best * 1e6:+.2f} um")
path = out / "z_stack_focus.obf"
m.save_as(path)
print(f"saved {path}")
