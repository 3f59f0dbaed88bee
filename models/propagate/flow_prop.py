"""The default classic propagator ("flow").

Per pass (from a keyframe, forward or backward through the shot), for each frame t, all
per-pixel bookkeeping at half resolution:
  1. DIS flow t -> t-1 on the luma (chain step, ULTRAFAST).
  2. Composed candidate C: the position in the keyframe, D_t(x) = D_{t-1}(x + f(x)) + f(x).
  3. Re-anchored candidate R, every `reanchor_every` (2) frames: DIS flow t -> keyframe
     initialised with C (ULTRAFAST, finest scale 1 of the half-resolution pyramid), so the
     keyframe's luma corrects the drift of the composition (a dense, fast form of "match luma
     patches around the composed position"). Between re-anchored frames C alone is used.
  4. Each candidate's error = patch luma residual between the key luma read there and the
     current luma; the keyframe's chroma is sampled at full resolution at C and at R (packed
     uint8 x4 remaps) and blended with weights from those errors.
  5. Occlusion fill: where the blended residual is high (revealed since / hidden in the key: no
     good match exists) the chroma is replaced by chroma spread edge-aware from reliable
     neighbours (normalised FGS guided by the current luma, at quarter resolution), each pixel
     blended towards it by its own unreliability, so reliable pixels keep their full detail.
  6. Temporal damping: the output is blended with the previous output warped by the chain flow
     (weight `temporal_full`), which damps the frame-to-frame jitter of the re-anchored
     positions (lower warp error, and slightly higher PSNR on the benchmark clips).
7. Optional learned refinement (`refiner`, models.propagate.refined_prop): a correction of the chroma
   from the luma, the chroma and the confidence, applied before the damping.
8. Optional symmetric temporal smoothing of the pass (`smooth_iters`, models.propagate.temporal_smooth,
   used by `quality`): frames leave `smooth_iters` frames late.
Options measured on the 15 clips and left off because they scored worse: `blend="position"`,
half-resolution damping (`temporal`), adaptive damping (`temporal_adapt`), position damping of
small corrections (`pos_damp`), re-anchoring DIS on a single pyramid level; a third
re-anchoring candidate from DIS t -> key without initialisation (-2.5 dB on davis_bmx_trees:
luma matches that are wrong); `blend_u8` is neither faster nor better. For the quality
settings: adaptive damping at 0.8 / 0.85 (warp error 2.004 / 1.998 against 2.002, -0.06 /
-0.10 dB) and a robust damping of small frame-to-frame differences up to 0.9 (2.002 / 1.998,
-0.01 / -0.05 dB): the warp-error gap to dis_chain is not jitter.
With several keyframes the forward and backward passes of a segment are blended by temporal
distance and confidence.
"""
from __future__ import annotations

from typing import Callable, Iterator, NamedTuple, Sequence

import cv2
import numpy as np

from models.base import LumaFrames, PropagatedFrame
from models.propagate.baselines import fixed_maps, luma_u8, pixel_grid


def _resize(img: np.ndarray, size: tuple[int, int], interp=cv2.INTER_LINEAR) -> np.ndarray:
    if (img.shape[1], img.shape[0]) == size:
        return img
    return cv2.resize(img, size, interpolation=interp)


def _make_dis(preset: int, finest: int | None = None, var_iters: int | None = None,
              coarsest: int | None = None, stride: int | None = None,
              gd_iters: int | None = None) -> cv2.DISOpticalFlow:
    """DIS with a preset and optional overrides (finest pyramid level, variational refinement
    iterations, coarsest level, patch stride, gradient-descent iterations per patch)."""
    d = cv2.DISOpticalFlow_create(preset)
    if gd_iters is not None:
        d.setGradientDescentIterations(gd_iters)
    if stride is not None:
        d.setPatchStride(stride)
    if coarsest is not None:
        d.setCoarsestScale(coarsest)
    if finest is not None:
        d.setFinestScale(finest)
    if var_iters is not None:
        d.setVariationalRefinementIterations(var_iters)
    return d


class _ChainStep(NamedTuple):
    L: np.ndarray          # luma (float, proxy size)
    cur_h: np.ndarray      # uint8 luma at the bookkeeping resolution
    cur_k: np.ndarray      # uint8 luma at the re-anchoring resolution
    f: np.ndarray          # chain flow t -> t-1 at the bookkeeping resolution


class _Pass:
    """Propagation away from one keyframe, one frame per step().

    State: P, for every pixel of the previous frame its position in the keyframe, stored as
    an offset field at half resolution (DIS's own flow fields are only 1/4-resolution detail).
    Per frame two candidate positions are proposed: C, the composition of P with the chain
    flow t -> t-1, and R, C re-anchored by DIS flow t -> key initialised with C. Each is scored
    by the patch residual between the keyframe's luma at that position and the current luma;
    both are directly comparable because both read from the keyframe."""

    def __init__(self, prop: "FlowPropagator", luma: LumaFrames, key: int, key_ab: np.ndarray):
        self.p = prop
        self.luma = luma
        self.key = key
        L = np.asarray(luma[key], np.float32)
        self.H, self.W = L.shape
        self.hsize = self._size(prop.chain_scale)
        # Half-resolution re-anchoring pays on proxy-size frames; on small frames (under 360
        # lines) it is too coarse to see a small object move off its background (and cheap
        # at full resolution anyway).
        self.ksize = self._size(prop.key_scale if self.H >= 360 else 1.0)
        self.key_ab = np.ascontiguousarray(key_ab, np.float32)
        # The key chroma packed as uint8 x4 (a+128, b+128, -, -): OpenCV's remap of 4-channel
        # uint8 is about twice as fast as 2-channel float; the key is sampled once per frame
        # (never resampled frame after frame), so the 0.5 quantisation step does not accumulate.
        self.key4 = self._pack4(np.clip(np.rint(self.key_ab + 128.0), 0, 255).astype(np.uint8))
        self.key4_h = None                               # packed key chroma at half res (lazy)
        u8 = luma_u8(L)
        self.key_h = _resize(u8, self.hsize, cv2.INTER_AREA)
        self.key_k = _resize(u8, self.ksize, cv2.INTER_AREA)
        self.prev_h = self.key_h
        self.chain_prev = self.key_h                    # chain()'s previous frame
        hw, hh = self.hsize
        self.P = np.zeros((hh, hw, 2), np.float32)      # position in key - x (half res)
        self.dis_chain = _make_dis(*prop.chain_dis)
        self.dis_key = _make_dis(*prop.key_dis)
        self.grid_h = pixel_grid(hh, hw)
        self.grid = pixel_grid(self.H, self.W)
        self.qsize = self._size(prop.fill_scale)
        self.prev4 = self.key4 if prop.temporal_full > 0 else None
        self.n_steps = 0
        self.prev_out = cv2.resize(self.key_ab, self.hsize, interpolation=cv2.INTER_AREA)  # last output, half res

    def _size(self, s: float) -> tuple[int, int]:
        return max(8, int(round(self.W * s))), max(8, int(round(self.H * s)))

    @staticmethod
    def _scale_flow(f: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        h, w = f.shape[:2]
        if (w, h) == size:
            return f
        interp = cv2.INTER_LINEAR if size[0] > w else cv2.INTER_AREA
        up = cv2.resize(f, size, interpolation=interp)
        up *= np.float32(size[0] / w)      # aspect kept to within a pixel: one factor for both
        return up

    def _residual(self, cur: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Patch residual (uint8 luma units) between cur and the key luma read at x + pos."""
        warped = cv2.remap(self.key_h, cv2.add(self.grid_h, pos), None, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        d = cv2.absdiff(cur, warped)
        k = self.p.patch
        return cv2.blur(d.astype(np.float32), (k, k))

    def _full_map(self, pos_h: np.ndarray) -> np.ndarray:
        """Full-resolution remap coordinates x + pos from an offset field at lower resolution
        (upsample, then scale and add the grid in one pass)."""
        w = pos_h.shape[1]
        up = _resize(pos_h, (self.W, self.H))
        return cv2.scaleAdd(up, self.W / w, self.grid)

    def _sample_key4(self, pos_h: np.ndarray) -> np.ndarray:
        """Key chroma (packed uint8 x4) read at x + pos, pos given at half resolution."""
        return cv2.remap(self.key4, self._full_map(pos_h), None, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)

    @staticmethod
    def _ab2(k4: np.ndarray) -> np.ndarray:
        """First two channels of a packed uint8 x4 as 2-channel uint8: the pair read as one
        uint16 and copied (0.15 ms at 854x480 against 0.42 for split + merge; same bytes)."""
        h, w = k4.shape[:2]
        return np.ascontiguousarray(k4.view(np.uint16)[..., 0]).view(np.uint8).reshape(h, w, 2)

    @staticmethod
    def _pack4(ab2: np.ndarray) -> np.ndarray:
        """2-channel uint8 (a, b) as the packed uint8 x4 (a, b, a, b): one merge of the pair read
        as uint16 (0.07 ms at 854x480 against 0.24 for split + a 4-plane merge; same bytes)."""
        h, w = ab2.shape[:2]
        v = np.ascontiguousarray(ab2).view(np.uint16).reshape(h, w)
        return cv2.merge([v, v]).view(np.uint8).reshape(h, w, 4)

    def _sample_key(self, pos_h: np.ndarray) -> np.ndarray:
        return cv2.subtract(self._ab2(self._sample_key4(pos_h)), (128.0, 128.0, 0.0, 0.0),
                            dtype=cv2.CV_32F)

    def chain(self, t: int) -> "_ChainStep":
        """The part of a step that depends on the luma only: frame t at the flow's resolutions
        and the chain flow t -> t-1. Called in pass order, and only from one thread at a time
        (it keeps the previous frame), so it can run ahead of step() on a thread of its own."""
        L = np.asarray(self.luma[t], np.float32)
        u8 = luma_u8(L)
        cur_h = _resize(u8, self.hsize, cv2.INTER_AREA)
        cur_k = cur_h if self.ksize == self.hsize else _resize(u8, self.ksize, cv2.INTER_AREA)
        f = self.dis_chain.calc(cur_h, self.chain_prev, None)         # t -> t-1
        self.chain_prev = cur_h
        return _ChainStep(L, cur_h, cur_k, f)

    def step(self, t: int, cs: "_ChainStep") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Frame t's chroma (before finish()), confidence, and the chain step's luma error
        for adaptive damping (None unless `temporal_adapt`); `cs` is chain(t)."""
        p = self.p
        cur_h, cur_k, f = cs.cur_h, cs.cur_k, cs.f
        C = cv2.add(cv2.remap(self.P, *fixed_maps(cv2.add(self.grid_h, f)), cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE), f)
        eC = self._residual(cur_h, C)
        self.n_steps += 1
        reanchor = p.reanchor and (self.n_steps % max(1, p.reanchor_every) == 0 or p.reanchor_every <= 1)
        if reanchor:
            init = self._scale_flow(C, self.ksize)
            if init is C:
                init = C.copy()                      # DIS writes its result into the initial flow
            R = self._scale_flow(self.dis_key.calc(cur_k, self.key_k, init), self.hsize)
            if p.pos_damp > 0:
                # Small re-anchoring corrections are mostly jitter: pull them towards the
                # composed position (large ones are real corrections and are kept).
                dCR = cv2.subtract(C, R)
                mag2 = cv2.add(*cv2.split(cv2.multiply(dCR, dCR)))
                wd = np.float32(p.pos_damp) * np.clip(np.float32(1.0) - mag2 * np.float32(1.0 / p.pos_tau ** 2),
                                                      0.0, 1.0).astype(np.float32)
                R = cv2.add(R, cv2.multiply(dCR, cv2.merge([wd, wd])))
            eR = self._residual(cur_h, R)
            eps = np.float32(p.eps)
            eC2 = eC * eC + eps
            eR2 = eR * eR + eps
            aC = eR2 / (eC2 + eR2)          # weight of C: (1/eC2) / (1/eC2 + 1/eR2)
            err = eR + aC * (eC - eR)
            if p.blend == "position":
                P = cv2.add(R, cv2.multiply(cv2.merge([aC, aC]), cv2.subtract(C, R)))
                ab = self._sample_key(P)
            else:
                sel = cv2.compare(aC, 0.5, cv2.CMP_GT)
                P = R.copy()
                cv2.copyTo(C, sel, P)
                alpha = _resize(aC, (self.W, self.H))
                if p.blend_u8:
                    # One per-pixel blend of the packed samples (rounded to the uint8 step).
                    k4 = cv2.blendLinear(self._sample_key4(C), self._sample_key4(R), alpha,
                                         np.float32(1.0) - alpha)
                    ab = cv2.subtract(self._ab2(k4), (128.0, 128.0, 0.0, 0.0), dtype=cv2.CV_32F)
                else:
                    kC = self._ab2(self._sample_key4(C))
                    kR = self._ab2(self._sample_key4(R))
                    d = cv2.subtract(kC, kR, dtype=cv2.CV_32F)
                    ab = cv2.add(cv2.multiply(d, cv2.merge([alpha, alpha])), kR, dtype=cv2.CV_32F)
                    ab = cv2.subtract(ab, (128.0, 128.0, 0.0, 0.0))
        else:
            P, err = C, eC
            ab = self._sample_key(P)
        self.P = P
        ech = None
        if p.temporal_full > 0 and p.temporal_adapt:
            # How well the chain step explains the current luma: trust the warped previous
            # output only there.
            wp = cv2.remap(self.prev_h, cv2.add(self.grid_h, f), None, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
            ech = cv2.blur(cv2.absdiff(cur_h, wp).astype(np.float32), (p.patch, p.patch))
        self.prev_h = cur_h
        conf_h = np.float32(1.0) / (np.float32(1.0) + err * np.float32(1.0 / p.conf_scale))
        if p.fill or p.temporal > 0:
            S = self._half_estimate(ab, C, R if reanchor else None, aC if reanchor else None, P)
            ab, conf_h = self._correct(ab, S, err, conf_h, cur_h, f)
        conf = _resize(conf_h, (self.W, self.H))
        return ab, conf, ech

    def finish(self, t: int, ab: np.ndarray, conf: np.ndarray, cs: "_ChainStep",
               ech: np.ndarray | None = None) -> np.ndarray:
        """The output stages of frame t after step(): the learned refinement and the temporal
        damping. Nothing in step() reads their result (the positions P are tracked from the
        luma alone), so they can run on another thread, called in pass order."""
        p = self.p
        if p.refiner is not None:
            ab = p.refiner(t, cs.L, ab, conf)
        if p.temporal_full > 0:
            ab = self._damp_full(ab, cs.f, ech)
        return ab

    def _damp_full(self, ab: np.ndarray, f: np.ndarray, ech: np.ndarray | None = None) -> np.ndarray:
        """Blend in a fraction of the previous output warped by the chain flow, at full
        resolution (the previous output kept packed as uint8 x4 for the fast remap path)."""
        p = self.p
        if self.prev4 is not None:
            T4 = cv2.remap(self.prev4, self._full_map(f), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            T = cv2.subtract(self._ab2(T4), (128.0, 128.0, 0.0, 0.0), dtype=cv2.CV_32F)
            if ech is None:
                ab = cv2.addWeighted(ab, 1.0 - p.temporal_full, T, p.temporal_full, 0.0)
            else:
                beta = np.clip((np.float32(p.adapt_hi) - ech) * np.float32(p.temporal_full / (p.adapt_hi - p.adapt_lo)),
                               0.0, p.temporal_full).astype(np.float32)
                beta = cv2.resize(beta, (self.W, self.H), interpolation=cv2.INTER_LINEAR)
                ab = cv2.add(ab, cv2.multiply(cv2.subtract(T, ab), cv2.merge([beta, beta])))
        self.prev4 = self._pack4(cv2.convertScaleAbs(ab, alpha=1.0, beta=128.0))
        return ab

    def _sample_key_h(self, pos: np.ndarray) -> np.ndarray:
        if self.key4_h is None:
            self.key4_h = cv2.resize(self.key4, self.hsize, interpolation=cv2.INTER_AREA)
        k4 = cv2.remap(self.key4_h, cv2.add(self.grid_h, pos), None, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
        return cv2.subtract(self._ab2(k4), (128.0, 128.0, 0.0, 0.0), dtype=cv2.CV_32F)

    def _half_estimate(self, ab, C, R, aC, P) -> np.ndarray:
        """The output chroma `ab` at the bookkeeping resolution: `ab` itself when that is the
        full resolution (quality), else sampled from a half-resolution key the same way the
        full-resolution output is (cheaper than downsampling the output)."""
        if self.hsize == (self.W, self.H):
            return ab
        if R is None or self.p.blend == "position":
            return self._sample_key_h(P)
        sC, sR = self._sample_key_h(C), self._sample_key_h(R)
        return cv2.add(sR, cv2.multiply(cv2.subtract(sC, sR), cv2.merge([aC, aC])))

    def _correct(self, ab, S, err, conf_h, cur_h, f):
        """Low-resolution corrections added to the full-resolution key sample `ab`:
        - fill: pixels whose key-luma residual is high (occluded in / revealed since the key:
          no good match exists there) take chroma spread edge-aware from reliable neighbours,
          guided by the current luma (normalised FGS at reduced resolution);
        - temporal: a fraction of the previous output warped by the chain flow, which damps
          frame-to-frame jitter of the re-anchored positions.
        With `temporal` off (every shipped setting) this is _fill_quarter: each full-resolution
        pixel blended towards the fill by its own unreliability. With `temporal` > 0 (the
        half-resolution damping, measured and left off) the low-resolution difference of both
        is upsampled and added. Either way reliable pixels keep their full-resolution detail."""
        p = self.p
        if p.temporal <= 0:
            return self._fill_quarter(ab, S, err, conf_h, cur_h)
        target = S
        if p.temporal > 0 and self.prev_out is not None:
            T = cv2.remap(self.prev_out, cv2.add(self.grid_h, f), None, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
            target = cv2.addWeighted(S, 1.0 - p.temporal, T, p.temporal, 0.0)
        if p.fill:
            # Reliability from the residual: 1 below fill_lo, 0 above fill_hi.
            rel = np.clip((np.float32(p.fill_hi) - err) * np.float32(1.0 / (p.fill_hi - p.fill_lo)),
                          0.0, 1.0).astype(np.float32)
            if float(rel.min()) < 1.0:
                qs = self.qsize
                rq = cv2.resize(rel, qs, interpolation=cv2.INTER_AREA)
                tq = cv2.resize(target, qs, interpolation=cv2.INTER_AREA)
                gq = cv2.resize(cur_h, qs, interpolation=cv2.INTER_AREA)
                fgs = cv2.ximgproc.createFastGlobalSmootherFilter(gq, p.fill_lam, p.fill_sigma)
                sm = fgs.filter(cv2.merge([tq[..., 0] * rq, tq[..., 1] * rq, rq]))
                den = np.maximum(sm[..., 2], np.float32(1e-4))
                fillq = cv2.merge([sm[..., 0] / den, sm[..., 1] / den])
                fill = cv2.resize(fillq, self.hsize, interpolation=cv2.INTER_LINEAR)
                u = np.float32(1.0) - rel
                target = target + cv2.merge([u, u]) * (fill - target)
                conf_h = conf_h * (np.float32(0.5) + np.float32(0.5) * rel)
        self.prev_out = target
        if target is not S:
            d = cv2.resize(cv2.subtract(target, S), (self.W, self.H), interpolation=cv2.INTER_LINEAR)
            ab = cv2.add(ab, d)
        return ab, conf_h

    CLAIM_MARGIN = (4.0, 10.0)    # residual above the best claimant's: reliable .. unreliable

    def _unclaimed(self, err: np.ndarray) -> np.ndarray:
        """Reliability from who else reads the same key position (bookkeeping resolution): of
        the pixels whose positions fall in one key cell, the best-matching one keeps it; a pixel
        whose residual is more than CLAIM_MARGIN above that one's is unreliable. The background
        a moving object reveals inherits the object's key positions through the chain, and
        where the object's luma happens to match the background's (the sample balloon's bright
        stripes against the sky) its residual alone does not give it away; the object itself,
        still in view, claims those positions with a far better match. A zoom maps several
        pixels to one cell with equally good residuals: they stay reliable. Figures: the
        docstring of _fill_quarter (the sample +0.30 dB over the per-pixel blend alone)."""
        hh, hw = err.shape
        m0, m1 = self.CLAIM_MARGIN
        # integer key cells of x + P: the integer part of OpenCV's fixed-point map
        cells, _ = cv2.convertMaps(cv2.add(self.grid_h, self.P), None, cv2.CV_16SC2)
        cx = np.clip(cells[..., 0], 0, hw - 1).astype(np.int32)
        cy = np.clip(cells[..., 1], 0, hh - 1).astype(np.int32)
        cell = (cy * np.int32(hw) + cx).ravel()
        e = err.ravel()
        best = np.full(hh * hw, np.inf, np.float32)
        np.minimum.at(best, cell, e)
        over = cv2.subtract(e, best[cell]).reshape(hh, hw)
        return np.clip((np.float32(m1) - over) * np.float32(1.0 / (m1 - m0)), 0.0, 1.0).astype(np.float32)

    def _fill_quarter(self, ab, S, err, conf_h, cur_h):
        """The occlusion fill: reliability from the residual (1 below fill_lo, 0 above fill_hi),
        normalised FGS of rel*ab and rel guided by the current luma at the fill resolution
        (quarter), and each full-resolution pixel blended towards that fill by its own
        unreliability (1 - rel at the bookkeeping resolution, upsampled).

        The blend weight is per pixel, not the quarter-resolution difference (1 - rel) * (fill - ab)
        upsampled, which it was: a thin unreliable strip (the background a moving object has just
        revealed, a few pixels wide) averaged its weight with the reliable pixels beside it and
        was only partly filled, and the occluder's colour it still read from the key stayed as a
        halo and a trail behind the object (the bundled sample's balloon left an orange line
        in the sky for the rest of the shot). With the claims of _unclaimed, first-frame protocol,
        15 clips: flow 33.83 / 31.26 dB mean / last frame and warp error 2.086 against 33.72 /
        31.12 / 2.121, no clip lower; quality 35.11 / 32.18 / 1.973 against 35.05 / 32.10 /
        1.976, worst clip -0.09 dB (davis_tennis); the per-pixel blend alone gave 33.80 / 31.24
        / 2.089 and 35.09 / 32.16 / 1.974. The sample: +0.62 dB over its 71 frames (33.80).
        Both cost ~3-4 ms a frame at 854x480. Reliable pixels keep the key's full detail.
        (Tried beside it and left out: a reliability remembered along the chain flow, which
        removes more of the sample's trail but costs teddy_colorful_shirt 0.8-1.2 dB, and
        positions unlike their neighbourhood's median marked unreliable, +0.2 dB on the sample,
        the trail mostly left: its positions agree with each other.)"""
        p, qs = self.p, self.qsize
        k = np.float32(1.0 / (p.fill_hi - p.fill_lo))
        rel_h = cv2.min(np.clip((np.float32(p.fill_hi) - err) * k, 0.0, 1.0).astype(np.float32),
                        self._unclaimed(err))
        if float(rel_h.min()) >= 1.0:
            return ab, conf_h
        eq = cv2.resize(err, qs, interpolation=cv2.INTER_AREA)
        rq = np.clip((np.float32(p.fill_hi) - eq) * k, 0.0, 1.0).astype(np.float32)
        Sq = cv2.resize(S, qs, interpolation=cv2.INTER_AREA)
        gq = cv2.resize(cur_h, qs, interpolation=cv2.INTER_AREA)
        fgs = cv2.ximgproc.createFastGlobalSmootherFilter(gq, p.fill_lam, p.fill_sigma)
        r2 = cv2.merge([rq, rq])
        sm = fgs.filter(cv2.merge([*cv2.split(cv2.multiply(Sq, r2)), rq]))
        inv = np.float32(1.0) / np.maximum(sm[..., 2], np.float32(1e-4))
        fillq = cv2.multiply(cv2.merge([sm[..., 0], sm[..., 1]]), cv2.merge([inv, inv]))
        size = (self.W, self.H)
        rel = cv2.resize(rel_h, size, interpolation=cv2.INTER_LINEAR)
        fill = cv2.resize(fillq, size, interpolation=cv2.INTER_LINEAR)
        ab = cv2.blendLinear(ab, fill, rel, np.float32(1.0) - rel)
        # the confidence as before (the reliability at the fill resolution): quality's RefineNet
        # was trained with it as an input
        conf_h = conf_h * (np.float32(0.5) + np.float32(0.5) *
                           cv2.resize(rq, self.hsize, interpolation=cv2.INTER_LINEAR))
        return ab, conf_h


class FlowPropagator:
    name = "flow"

    def __init__(self, device=None, chain_scale: float = 0.5, key_scale: float = 0.5,
                 chain_dis=(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,), key_dis=(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, 1, 0),
                 reanchor: bool = True, blend: str = "color",
                 patch: int = 5, decay: float = 1.0, chain_cost: float = 0.3, eps: float = 1.0,
                 conf_scale: float = 4.0, fill: bool = True, fill_lo: float = 12.0,
                 fill_hi: float = 30.0, fill_lam: float = 30.0, fill_sigma: float = 8.0,
                 fill_scale: float = 0.25, temporal: float = 0.0, temporal_full: float = 0.7,
                 temporal_adapt: bool = False, adapt_lo: float = 3.0, adapt_hi: float = 10.0,
                 reanchor_every: int = 2, pos_damp: float = 0.0, pos_tau: float = 1.5,
                 blend_u8: bool = False, refiner=None, smooth_iters: int = 0, smooth_sigma: float = 7.65,
                 pipeline: bool = False, **kw):
        self.device = device
        # Stages of each pass on threads of their own, OpenCV and torch single-threaded
        # (models.propagate.pipeline); same output as the sequential pass. Used by `quality` (5-9 %
        # faster); at flow's own settings it is not faster (12.2 -> 13.0 ms a frame at 854x480)
        self.pipeline = pipeline
        # Symmetric temporal smoothing (models.propagate.temporal_smooth), off for the fast preview method
        self.smooth_iters = smooth_iters
        self.smooth_sigma = smooth_sigma
        # refiner(t, L, ab, conf) -> ab: a learned correction of each frame's chroma applied
        # before the temporal damping, so the damping smooths it too (models.propagate.refined_prop)
        self.refiner = refiner
        self.blend_u8 = blend_u8
        self.pos_damp = pos_damp
        self.pos_tau = pos_tau
        self.reanchor_every = reanchor_every
        self.temporal_adapt = temporal_adapt
        self.adapt_lo = adapt_lo
        self.adapt_hi = adapt_hi
        self.temporal_full = temporal_full
        self.fill = fill
        self.fill_lo = fill_lo
        self.fill_hi = fill_hi
        self.fill_lam = fill_lam
        self.fill_sigma = fill_sigma
        self.fill_scale = fill_scale
        self.temporal = temporal
        self.chain_scale = chain_scale
        self.key_scale = key_scale
        self.chain_dis = tuple(chain_dis)
        self.key_dis = tuple(key_dis)
        self.reanchor = reanchor
        self.blend = blend
        self.patch = patch
        self.decay = decay
        self.chain_cost = chain_cost
        self.eps = eps
        self.conf_scale = conf_scale

    # ------------------------------------------------------------------ scheduling
    def _pass(self, luma, key: int, key_ab: np.ndarray, stop: int, should_stop):
        """Yield (t, ab, conf) from key +- 1 to stop inclusive."""
        ps = _Pass(self, luma, key, key_ab)
        step = 1 if stop > key else -1
        ts = range(key + step, stop + step, step)
        sm = None
        if self.smooth_iters > 0:
            from models.propagate.temporal_smooth import TemporalSmoother
            sm = TemporalSmoother(ps.key_ab, ps.key_h, self.smooth_iters, self.smooth_sigma)

        def output(t, ab, conf, ech, cs):
            ab = ps.finish(t, ab, conf, cs, ech)
            return [(t, ab, conf)] if sm is None else sm.push(t, ab, conf, cs.cur_h, cs.f)

        if not self.pipeline:
            for t in ts:
                if should_stop():
                    return
                cs = ps.chain(t)
                yield from output(t, *ps.step(t, cs), cs)
            if sm is not None:
                yield from sm.flush()
            return
        # Pipelined (models.propagate.pipeline): the chain flow of the next frames on one thread, this
        # frame's positions and key samples here, the refinement, damping and smoothing of
        # the previous frame on a third.
        from models.propagate.pipeline import Behind, ahead
        behind = Behind(output, "hueshot-output")
        chained = ahead(ps.chain, ts, depth=2, name="hueshot-chain")
        try:
            for t, cs in chained:
                if should_stop():
                    return
                yield from behind.put(t, *ps.step(t, cs), cs) or ()
            yield from behind.drain() or ()
            if sm is not None:
                yield from sm.flush()
        finally:
            chained.close()
            behind.close()

    def _segment(self, luma, keys, lo_key, hi_key, lo, hi, wanted, should_stop, near_hi: bool, prior=None):
        """Frames lo..hi (exclusive of keys) of one segment; lo_key / hi_key may be None (open
        end). With both keys, the pass from the far key runs first and is stored, then the pass
        from the near key yields frames (nearest to it first) blended with the stored ones by
        temporal distance and confidence."""
        need = [t for t in range(lo, hi + 1) if t in wanted]
        if not need:
            return
        if lo_key is None or hi_key is None:
            k = hi_key if lo_key is None else lo_key
            stop = min(need) if lo_key is None else max(need)
            for t, ab, conf in self._pass(luma, k, keys[k], stop, should_stop):
                if t in wanted:
                    yield PropagatedFrame(t, ab, conf)
            return
        near, far = (hi_key, lo_key) if near_hi else (lo_key, hi_key)
        stored: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        far_stop = (max(need) if far == lo_key else min(need))

        def run_far():
            for t, ab, conf in self._pass(luma, far, keys[far], far_stop, should_stop):
                if t in wanted:
                    stored[t] = (ab.astype(np.float16), conf.astype(np.float16))
        # The far key's pass alone, as an earlier run computed it (the editor keeps it: it is
        # what the frames showed before a correction made this a two-key segment), read frame
        # by frame as the near pass goes; a causal pass does not depend on where it stops, so
        # it is the same pass. Where it is missing, the far pass runs after all.
        lazy = prior is not None and not self.smooth_iters
        if not lazy:
            run_far()
            if should_stop():
                return
        near_stop = (max(need) if near == lo_key else min(need))
        span = float(hi_key - lo_key)
        for t, ab, conf in self._pass(luma, near, keys[near], near_stop, should_stop):
            if t not in wanted:
                continue
            if lazy and t not in stored:
                got = prior(far, t)
                if got is None:
                    lazy = False
                    run_far()
                    if should_stop():
                        return
                else:
                    stored[t] = (np.asarray(got[0], np.float16), np.asarray(got[1], np.float16))
            ab2, conf2 = stored.pop(t)
            ab2 = ab2.astype(np.float32)
            conf2 = conf2.astype(np.float32)
            w1 = conf * np.float32(1.0 - abs(t - near) / span) + 1e-4
            w2 = conf2 * np.float32(1.0 - abs(t - far) / span) + 1e-4
            a = w1 / (w1 + w2)
            out = ab2 + cv2.merge([a, a]) * (ab - ab2)
            yield PropagatedFrame(t, out, a * conf + (1 - a) * conf2)

    def run(self, luma: LumaFrames, keys: dict[int, np.ndarray], frames: Sequence[int] | None = None,
            should_stop: Callable[[], bool] = lambda: False, focus: int | None = None, prior=None
            ) -> Iterator[PropagatedFrame]:
        """`prior(key, t)`: optional (ab, confidence) of the pass from keyframe `key` alone at
        frame t computed before (None when unknown); a two-key segment uses it for its far
        pass instead of running that pass again (not with temporal smoothing, whose frames
        near a pass's end depend on where it stops)."""
        if not self.pipeline:
            yield from self._run(luma, keys, frames, should_stop, focus, prior)
            return
        from models.propagate.pipeline import LockedLuma, single_threaded_kernels
        with single_threaded_kernels():
            # Passes of several segments may run at once (focus): one reader of the luma at a time
            yield from self._run(LockedLuma(luma), keys, frames, should_stop, focus, prior)

    def _run(self, luma, keys, frames, should_stop, focus, prior=None) -> Iterator[PropagatedFrame]:
        if not keys:
            raise ValueError("flow propagation needs at least one keyframe")
        n = len(luma)
        klist = sorted(k for k in keys if 0 <= k < n)
        if not klist:
            raise ValueError("no keyframe inside the shot")
        keys = {k: np.ascontiguousarray(keys[k], np.float32) for k in klist}
        wanted = set(range(n)) if frames is None else {f for f in frames if 0 <= f < n}
        key_order = sorted(klist, key=lambda k: (abs(k - focus), k)) if focus is not None else klist
        for k in key_order:
            if should_stop():
                return
            if k in wanted:
                yield PropagatedFrame(k, keys[k], np.ones(keys[k].shape[:2], np.float32))
        # Segments between consecutive keys, plus the open ends.
        bounds = [None] + klist + [None]
        segs = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            lo = 0 if a is None else a + 1
            hi = n - 1 if b is None else b - 1
            if lo > hi:
                continue
            if focus is None:
                near_hi, dist = (a is None), lo
            else:
                da = abs(focus - a) if a is not None else float("inf")
                db = abs(focus - b) if b is not None else float("inf")
                near_hi, dist = db < da, min(abs(focus - lo), abs(focus - hi))
            segs.append((dist, self._segment(luma, keys, a, b, lo, hi, wanted, should_stop, near_hi, prior)))
        segs.sort(key=lambda s: s[0])
        gens = [g for _, g in segs]
        if focus is None:
            for g in gens:
                yield from g
            return
        # Round-robin over segments so frames on both sides of the focus come first.
        active = gens
        while active:
            nxt = []
            for g in active:
                fr = next(g, None)
                if fr is not None:
                    yield fr
                    nxt.append(g)
            active = nxt
