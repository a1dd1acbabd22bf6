"""A measurement through the headless service: the same API, with the application in another process.

    specpy serve &                                   # the simulated rig behind a broker on 127.0.0.1
    python examples/remote_acquisition.py [OUT_DIR]  # port: $SPEC_SERVER_PORT, else 12345

get_application("localhost") returns a proxy to the service's application. The step callback runs
here, on the client's event thread; `blocking=True` makes the service's engine wait for it between
steps, so it can read the frame just taken and raise the STED power for the next one.
"""

import sys

import specpy
from example_output import output_directory

out = output_directory(sys.argv)
powers = [0.0, 5e-3, 20e-3]                      # STED power of each step (time point), W

im = specpy.get_application("localhost")
print(f"connected to specpy {im.version()} at {im.host()!r}")
m = im.create_measurement()
m.set_parameters("", {
    "scan": {"x": {"length": 3.2e-6, "pixel_size": 50e-9}, "y": {"length": 3.2e-6, "pixel_size": 50e-9},
             "dwell_time": 20e-6},
    "channels": {"excitation": {"enabled": True, "power": 2e-3}, "sted": {"enabled": False, "power": 0.0}},
    "steps": {"time_points": len(powers)},
})
photons = []


def next_power():
    """After each step: count the frame's photons (STED depletes the fluorescence), then set the next STED power."""
    step = len(photons)
    frame = im.current_measurement().stack(0).data()[step, 0]  # a snapshot, sent without copies
    photons.append(int(frame.sum()))
    print(f"  step {step + 1}/{len(powers)}: STED {powers[step] * 1e3:4.1f} mW, {photons[-1]} photons")
    if step + 1 < len(powers):
        m.set_parameters("channels/sted", {"enabled": True, "power": powers[step + 1]})


im.connect_end(next_power, 1, blocking=True, timeout=10.0)  # the engine waits (at most 10 s) for it
try:
    im.run(m)
finally:
    im.disconnect_end(next_power, 1)

stack = m.stack(0)
print(f"stack {stack.name()!r}: sizes {stack.sizes()}, {stack.data().dtype}")
path = (out / "remote_acquisition.obf").resolve()
m.save_as(str(path))                             # the service writes it: a path on the service's machine
print(f"saved {path}")
im.close(m)
im.close_connection()
