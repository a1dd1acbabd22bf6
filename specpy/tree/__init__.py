"""The device parameter/state tree: '/'-separated paths, typed leaves in SI units, validation, change events.

    from specpy.tree import Tree, Float, Enum
    laser = Tree({"power": Float(unit="W", min=0, max=0.5), "mode": Enum(["cw", "pulsed"])})
    laser.set("", {"power": 0.01, "mode": "cw"})   # all checked first, then applied
"""

from .core import Callback, PartialSetError, Subscription, Tree, TreeIO
from .paths import check_path
from .schema import KINDS, Array, Bool, Enum, Float, Int, Leaf, Str, jsonable

__all__ = [
    "KINDS", "Array", "Bool", "Callback", "Enum", "Float", "Int", "Leaf", "PartialSetError", "Str",
    "Subscription", "Tree", "TreeIO", "check_path", "jsonable",
]
