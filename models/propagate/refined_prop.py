"""The "quality" propagator: high-quality flow propagation refined by a learned network.

1. `flow` (models.propagate.flow_prop) at its quality settings: chain and re-anchoring optical flow at
   the full proxy resolution, re-anchoring to the keyframe on every frame, a finer DIS preset
   for the frame-to-frame chain, and a symmetric temporal smoothing of each pass
   (`QUALITY_FLOW`). Measured on the 15 benchmark clips, each of these gained on its own (see
   README), at about eight times the fast method's cost.
2. RefineNet (models.propagate.refinenet, shipped weights models/weights/refinenet.pt, model card
   beside them) corrects each propagated frame from its luma, its chroma and flow's
   confidence, inside the flow pass and before its temporal damping (so the damping smooths
   the corrections too). The net's input never contains its own earlier outputs, so its
   corrections cannot compound.
Keyframes are passed through exactly. With several keyframes each pass is refined, then the
passes are blended by distance and confidence.
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import cv2
import numpy as np
import torch

from models.base import LumaFrames, PropagatedFrame

# Flow settings of the quality method; train_refinenet generates its training inputs with
# these, so change them together (and retrain). Chain: DIS MEDIUM on the full proxy frame with
# 2 variational refinement iterations (the preset's 5 cost 6 ms a frame more at 854x480 for
# +0.013 dB mean and -0.05 dB on the last frame), a patch stride of 4 and 12 gradient-descent
# iterations per patch (the preset's 3 and 25: 35.015 / 32.101 dB mean / last frame and warp
# error 1.974 on the 15 clips, against 35.044 / 32.143 / 1.976 with these, ~12 % faster);
# re-anchoring: DIS ULTRAFAST down to the
# finest pyramid level with a patch stride of 6 (the preset's 4 costs 23 ms a frame more for
# +0.07 dB), every frame; then the symmetric temporal smoothing (models.propagate.temporal_smooth,
# 5 iterations: +0.08 dB and the warp error from 2.002 to 1.973 on the 15 clips, README),
# with a luma gate sigma of 6 (the default 7.65: 35.044 / 32.143 / 1.9760; 6: 35.044 / 32.148 /
# 1.9754; the smoothing runs after the net, so it is not part of the net's training inputs).
QUALITY_FLOW = dict(reanchor_every=1, chain_scale=1.0, key_scale=1.0,
                    chain_dis=(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, None, 2, None, 4, 12),
                    key_dis=(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, 0, 0, None, 6),
                    smooth_iters=5, smooth_sigma=6.0)


# RefineNet runs on the frame at half size and its correction is upsampled: on the 15 clips
# 34.951 dB against 34.959 at full size, for a quarter of the cost (~4 instead of ~14 ms a
# frame at 854x480): its corrections are regional (desaturating what flow is unsure of,
# colouring revealed areas from their surroundings), not fine detail.
NET_SCALE = 0.5


def quality_flow(**kw):
    """FlowPropagator at the quality settings, its passes pipelined (models.propagate.pipeline)."""
    from models.propagate.flow_prop import FlowPropagator
    return FlowPropagator(**{**QUALITY_FLOW, "pipeline": True, **kw})


class RefinedPropagator:
    name = "quality"

    def __init__(self, device=None, weights=None, refine: bool = True, cpu_threads: int | None = None,
                 flow_kw: dict | None = None, net_scale: float = NET_SCALE, **kw):
        from models.propagate.refinenet import WEIGHTS, RefineNet
        self.net = RefineNet.load(weights or WEIGHTS, device) if refine else None
        if self.net is not None:
            self.net.scale = net_scale
        self.device = self.net.device if self.net is not None else None
        # The net corrects each frame before flow's temporal damping (FlowPropagator.refiner):
        # the damping smooths the corrections, and the net's input never contains its own
        # earlier output, so nothing it does can compound.
        refiner = (lambda t, L, ab, conf: self.net.refine(L, ab, conf)) if self.net is not None else None
        self.flow = quality_flow(refiner=refiner, **(flow_kw or {}))
        self.cpu_threads = cpu_threads

    def run(self, luma: LumaFrames, keys: dict[int, np.ndarray], frames: Sequence[int] | None = None,
            should_stop: Callable[[], bool] = lambda: False, focus: int | None = None
            ) -> Iterator[PropagatedFrame]:
        old = torch.get_num_threads()
        if self.cpu_threads:
            torch.set_num_threads(self.cpu_threads)
        try:
            yield from self.flow.run(luma, keys, frames, should_stop, focus)
        finally:
            if self.cpu_threads:
                torch.set_num_threads(old)
