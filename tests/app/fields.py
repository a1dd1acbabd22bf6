"""Measurement parameters the local and the remote suites share."""

# A 32 x 32 field with beads in it, bright enough for ratios of counts to mean something.
BEAD_FIELD = {"scan": {"x": {"length": 3.2e-6, "pixel_size": 100e-9}, "y": {"length": 3.2e-6, "pixel_size": 100e-9},
                       "dwell_time": 50e-6},
              "channels": {"excitation": {"power": 2e-3}}}
