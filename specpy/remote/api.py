"""The operations a client may call, per remote object kind: the only names the service dispatches.

Each operation says whether it is idempotent (a client may resend it after a timeout) and
whether the service runs it on its socket thread (quick, no device I/O) or on its pool.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    """One remotely callable method."""

    idempotent: bool = True
    quick: bool = True  # run inline on the service's socket thread (no device I/O, no waiting)


READ = Operation()
SET = Operation(idempotent=True, quick=True)
DEVICE = Operation(idempotent=True, quick=False)  # touches devices or files: on the pool
ONCE = Operation(idempotent=False, quick=False)  # creates or changes something each time it runs

IMSPECTOR: dict[str, Operation] = {
    "version": READ, "device_drivers": READ, "parameters": READ, "set_parameters": DEVICE,
    "state": DEVICE, "set_state": DEVICE, "measurement_names": READ, "active_measurement": READ,
    "measurement": READ, "create_measurement": ONCE, "open": DEVICE, "activate": SET, "start": ONCE,
    "pause": DEVICE, "close": ONCE, "active_stack": READ, "current_measurement": READ,
    "wait": DEVICE,
}
MEASUREMENT: dict[str, Operation] = {
    "name": READ, "path": READ, "status": READ, "status_message": READ, "number_of_configurations": READ,
    "configuration_names": READ, "active_configuration": READ, "configuration": READ, "activate": SET,
    "clone": ONCE, "remove": ONCE, "parameters": READ, "set_parameters": SET, "number_of_stacks": READ,
    "stack_names": READ, "stack": READ, "create_stack": ONCE, "update": SET, "save_as": DEVICE, "save": DEVICE,
}
CONFIGURATION: dict[str, Operation] = {
    "name": READ, "set_name": SET, "id": READ, "parameters": READ, "set_parameters": SET,
    "number_of_stacks": READ, "stack_names": READ, "stack": READ,
}
STACK: dict[str, Operation] = {
    "data": DEVICE,  # may inflate or read a stack from its file: on the pool, never on the broker's thread
} | {
    name: READ for name in (
        "type", "number_of_elements", "shape", "sizes", "size", "number_of_dimensions", "name",
        "description", "label", "labels", "length", "lengths", "offset", "offsets", "pixel_size", "unit",
        "value_unit", "col_positions", "col_labels", "tag", "tags", "parameters", "meta_data")
} | {
    name: SET for name in (
        "set_name", "set_description", "set_label", "set_labels", "set_length", "set_lengths", "set_offset",
        "set_offsets", "set_unit", "set_value_unit", "set_col_positions", "set_col_labels", "set_tag",
        "set_parameters")
}
# The service's own operations on the application target (not part of Imspector's API).
SERVICE: dict[str, Operation] = {
    "status": READ, "sync_events": READ, "hook_add": SET, "hook_remove": SET, "hook_done": SET,
    "release": Operation(idempotent=False, quick=True),  # give back handle counts: never resent
}
KINDS: dict[str, dict[str, Operation]] = {
    "Imspector": IMSPECTOR | SERVICE, "Measurement": MEASUREMENT, "Configuration": CONFIGURATION, "Stack": STACK,
}
