"""Find and fit every bead in a saved .obf/.msr file, plane by plane; print a summary and save the table.

    python examples/fit_saved_file.py FILE [OUT_DIR]

No microscope needed: the file is read with specpy.File and fitted with specpy.fit.fit_spots.
"""

import sys
from pathlib import Path

import numpy as np
from astropy.table import vstack

from example_output import output_directory
from specpy import File
from specpy.fit import fit_spots

if len(sys.argv) < 2:
    sys.exit(__doc__)
source = Path(sys.argv[1])
out = output_directory(sys.argv, position=2)

tables = []
with File(source, File.Read) as f:
    for index in range(f.number_of_stacks()):
        stack = f.read(index)
        pixel = stack.pixel_size(0)                          # metres, if the x axis has a length unit
        roi = 2 * round(250e-9 / pixel) + 1 if stack.unit(0) == "m" else 11   # about twice a confocal FWHM
        data = stack.data()                                  # numpy order: [..., y, x]
        planes = data.reshape(-1, data.shape[-2], data.shape[-1])
        for plane, image in enumerate(planes):
            spots = fit_spots(image, roi=roi)
            spots["stack"] = index
            spots["plane"] = plane
            tables.append(spots)
            good = spots["status"] == 0
            fwhm = 0.5 * (np.asarray(spots["fwhm_x"]) + np.asarray(spots["fwhm_y"]))[good] * pixel
            width = f"median FWHM {np.median(fwhm) * 1e9:.1f} nm" if good.any() else "no converged fit"
            print(f"{stack.name()} plane {plane}: {len(spots)} spots, {int(good.sum())} converged, {width}")

table = vstack(tables) if tables else None
if table is None or len(table) == 0:
    sys.exit(f"{source}: no spots found")
path = out / f"{source.stem}_spots.ecsv"
table.write(path, overwrite=True)                            # pixel units; see the stack's pixel size
print(f"saved {len(table)} fitted spots to {path}")
