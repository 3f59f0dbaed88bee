"""Method names -> propagator factories.

`get_propagator(name, device=None, **kw)` builds a fresh propagator object; `device` is
passed through (classic methods run on the CPU with OpenCV and ignore it).
"""
from __future__ import annotations

from typing import Callable

from models.base import Propagator

DEFAULT_METHOD = "flow"
# best-quality method: the export dialog's default (`hueshot render --method quality` on the CLI)
QUALITY_METHOD = "quality"

# Baselines first; the default classic propagator after. Imports are lazy so listing
# methods stays cheap.
def _gray(**kw):
    from models.propagate.baselines import GrayPropagator
    return GrayPropagator(**kw)


def _copy_key(**kw):
    from models.propagate.baselines import CopyKeyPropagator
    return CopyKeyPropagator(**kw)


def _dis_chain(**kw):
    from models.propagate.baselines import DisChainPropagator
    return DisChainPropagator(**kw)


def _flow(**kw):
    from models.propagate.flow_prop import FlowPropagator
    return FlowPropagator(**kw)


_FACTORIES: dict[str, Callable[..., Propagator]] = {
    "gray": _gray,
    "copy_key": _copy_key,
    "dis_chain": _dis_chain,
    "flow": _flow,
    # flow at its quality settings + the learned refinement (models/propagate/refined_prop.py)
    "quality": lambda **kw: __import__("models.propagate.refined_prop", fromlist=["RefinedPropagator"]).RefinedPropagator(**kw),
    # flow + hand-made global matching (models/propagate/quality_prop.py): measured, not better than quality
    "match": lambda **kw: __import__("models.propagate.quality_prop", fromlist=["QualityPropagator"]).QualityPropagator(**kw),
}

BASELINES = ("gray", "copy_key", "dis_chain")
# Methods that run on the CPU with OpenCV alone and ignore `device`: a render with one of them
# and device "auto" or "cpu" picks no compute device, so it never imports torch (~2 s of CPU
# and more wall time at start-up on a busy 2-core host).
OPENCV_METHODS = frozenset({"gray", "copy_key", "dis_chain", "flow"})


def available_methods() -> list[str]:
    return list(_FACTORIES)


def register(name: str, factory: Callable[..., Propagator]) -> None:
    """Add a method (e.g. a learned propagator) under `name`."""
    _FACTORIES[name] = factory


def get_propagator(name: str | None = None, device=None, **kw) -> Propagator:
    name = name or DEFAULT_METHOD
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise KeyError(f"unknown propagation method {name!r}; available: "
                       f"{', '.join(available_methods())}") from None
    return factory(device=device, **kw)
