"""Runs under Imspector's closed-source SpecPy (the oracle), driven by tests over stdin/stdout.

One JSON request per line, one JSON reply per line. Arrays travel as .npy files (loaded with
allow_pickle=False). This script must not import the project's own `specpy`: it is started with
the oracle's directory first on sys.path and from this directory.
"""

import json
import sys
import traceback

import numpy as np
import specpy  # the oracle's


def write(request):
    mode = request.get("mode", specpy.File.Write)
    f = specpy.File(request["path"], mode)
    if request.get("description") is not None:
        f.set_description(request["description"])
    errors = []
    for item in request["stacks"]:
        stack = specpy.Stack(np.load(item["npy"], allow_pickle=False))
        for key in ("labels", "lengths", "offsets"):
            if key in item:
                getattr(stack, "set_" + key)(item[key])
        try:
            f.write(stack, bool(item.get("compression", True)))
        except RuntimeError as error:  # e.g. rank > 5: written, then the OME export fails
            if not request.get("tolerate_errors"):
                raise
            errors.append(str(error))
    del f
    return {"errors": errors}


def read(request):
    f = specpy.File(request["path"], specpy.File.Read)
    stacks = []
    for i in range(f.number_of_stacks()):
        s = f.read(i)
        npy = f"{request['out']}_{i}.npy"
        np.save(npy, s.data(), allow_pickle=False)
        lengths = [s.length(k) for k in range(len(s.shape()))]
        stacks.append({
            "name": s.name(), "description": s.description(), "shape": list(s.shape()),
            "labels": list(s.labels()), "lengths": lengths,
            "offsets": [s.offset(k) for k in range(len(s.shape()))], "type": np.dtype(s.type()).name,
            "npy": npy,
        })
    result = {"description": f.description(), "stacks": stacks}
    del f
    return result


def main():
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = {"ok": {"write": write, "read": read, "version": lambda r: specpy.__version__}[request["op"]](request)}
        except Exception as error:  # reported to the test, which decides
            reply = {"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
