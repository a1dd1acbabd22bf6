"""A session's full state as JSON-ready data plus arrays, and back (used by save/load)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from .components import Grid
from .data import DataSet
from .model import Model
from .persistence import SESSION_FORMAT, VERSION, ArrayStore, CommandLog, decode, encode
from .results import FitResult
from .statistics import Statistic

if TYPE_CHECKING:
    from .session import Session


def session_state(session: "Session") -> tuple[dict[str, Any], ArrayStore]:
    """Everything needed to rebuild the session: data, model, last fit, command log."""
    store = ArrayStore()
    datasets = [
        {
            "name": ds.name,
            "stat": ds.stat.name,
            "variance": ds.stat.variance,
            "units": list(ds.units),
            "pixel": encode(list(ds.grid.pixel), store),
            "axes": [store.put(a) for a in ds.grid.axes],
            "counts": store.put(ds.counts),
            "mask": None if ds.mask is None else store.put(ds.mask),
            "sigma": None if ds.sigma is None else store.put(ds.sigma),
        }
        for ds in session.dataset.sets
    ]
    mod = session.mod
    sectors = []
    for sector in mod.sectors:
        components = []
        for entry in sector.components:
            isect, _ = mod.position(entry)
            components.append(
                {
                    "name": entry.component.name,
                    "options": encode(entry.component.options, store),
                    "label": entry.label,
                    "relations": [mod.position(other)[1] for other in entry.relations],
                    "parameters": {
                        name: {
                            "value": store.put(p.value),
                            "free": p.free,
                            "shared": p.shared,
                            "lower": encode(p.lower, store),
                            "upper": encode(p.upper, store),
                            "link": mod.link_text(p),
                        }
                        for name, p in entry.parameters.items()
                    },
                }
            )
        sectors.append(components)
    fit = None if session.opt_fit is None else encode(dataclasses.asdict(session.opt_fit), store)
    header = {
        "format": SESSION_FORMAT,
        "version": VERSION,
        "specpy": session.version,
        "settings": {"workers": session.workers, "chunk": session.chunk},
        "datasets": datasets,
        "model": {"n_items": mod.n_items, "sectors": sectors},
        "opt_fit": fit,
        "log": session.logs.encoded(store),
    }
    return header, store


def restore_session(cls: type["Session"], header: dict[str, Any], store: ArrayStore) -> "Session":
    """Rebuild a session from `session_state` output."""
    chunk = header["settings"]["chunk"]
    session = cls(workers=int(header["settings"]["workers"]), chunk=None if chunk is None else int(chunk))
    for d in header["datasets"]:
        grid = Grid(tuple(store.get(a["__array__"]) for a in d["axes"]), tuple(decode(d["pixel"], store)))
        ds = DataSet(
            np.asarray(store.get(d["counts"]["__array__"]), dtype=float),
            None if d["mask"] is None else store.get(d["mask"]["__array__"]).astype(bool),
            None if d["sigma"] is None else store.get(d["sigma"]["__array__"]),
            grid,
            Statistic.make(d["stat"], d["variance"]),
            d["name"],
            tuple(d["units"]),
            session.workers,
        )
        session.dataset.sets.append(ds)
    mod = Model()
    mod.set_items(int(header["model"]["n_items"]))
    links = []
    for isect, components in enumerate(header["model"]["sectors"], 1):
        if isect > mod.nsector:
            mod.sectors.append(type(mod.sectors[0])())
        for c in components:
            entry = mod.add(c["name"], isect, decode(c["options"], store), c["label"])
            for name, p in c["parameters"].items():
                param = entry.parameters[name]
                param.value = np.asarray(store.get(p["value"]["__array__"]), dtype=float).copy()
                param.free, param.shared = bool(p["free"]), bool(p["shared"])
                param.lower, param.upper = float(decode(p["lower"], store)), float(decode(p["upper"], store))
                if p["link"]:
                    links.append((param, p["link"]))
        for icomp, c in enumerate(components, 1):
            if c["relations"]:
                mod.relate(isect, icomp, list(c["relations"]))
    for param, text in links:
        mod.link(param, text)
    session.mod = mod
    if header["opt_fit"] is not None:
        session.opt_fit = FitResult(**decode(header["opt_fit"], store))
    session.logs = CommandLog([(c, tuple(a), k) for c, a, k in CommandLog.decoded(header["log"], store, cls.COMMANDS)])
    return session
