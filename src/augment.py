"""Differentiable Siamese Augmentation (DSA; Zhao & Bilen, ICML 2021), vectorised.

The reference implementation loops over operations and, for siamese use, re-seeds the global
RNG per class. Here every operation is expressed per sample with identity parameters where it
is switched off, so one call transforms a whole batch:

    colour (brightness, saturation, contrast)  -> elementwise
    crop (integer translation), flip, scale, rotate -> one composed affine grid_sample
    cutout -> one mask

`mode="S"` (the DSA/DM/DataDAM default) applies one randomly chosen operation per call of the
reference code, that is per minibatch, with its magnitudes drawn per sample; `mode="M"` applies
all of them. Several minibatches transformed in one call (N evaluation models, PAD's N student
steps) pass `blocks=N` to keep one operation each. Siamese use: `sample(n_groups)` once (one
operation and one set of magnitudes per group), then `apply` with `group=` the class index of each
image, so real and synthetic images of one class share exactly the same transform (the reference
code makes one call per class). All randomness comes from an explicit torch.Generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

OPS = ("color", "crop", "cutout", "flip", "scale", "rotate")


@dataclass(frozen=True)
class DSAHyper:
    prob_flip: float = 0.5
    ratio_scale: float = 1.2
    ratio_rotate: float = 15.0  # degrees
    ratio_crop_pad: float = 0.125
    ratio_cutout: float = 0.5
    brightness: float = 1.0
    saturation: float = 2.0
    contrast: float = 0.5


def parse_strategy(strategy: str) -> tuple[str, ...]:
    if strategy in ("", "none"):
        return ()
    ops = tuple(strategy.split("_"))
    bad = [o for o in ops if o not in OPS]
    if bad:
        raise ValueError(f"unknown DSA operation {bad[0]!r} (choose from {'_'.join(OPS)})")
    return ops


class DSA:
    def __init__(self, strategy: str = "color_crop_cutout_flip_scale_rotate", mode: str = "S", hyper: DSAHyper = DSAHyper()):
        self.ops = parse_strategy(strategy)
        self.mode = mode
        self.h = hyper

    @property
    def enabled(self) -> bool:
        return bool(self.ops)

    def sample(self, n: int, size: tuple[int, int], generator: torch.Generator, device: torch.device,
               blocks: int | None = None) -> dict[str, torch.Tensor]:
        """Random parameters for n samples (or n siamese groups), identity where an op is off.
        Mode S: one operation for each of `blocks` equal runs of consecutive samples (one
        minibatch each), or per sample (per group) when None."""
        h, (H, W) = self.h, size

        def rand():
            return torch.rand(n, generator=generator, device=device)

        if self.mode == "S":
            k = n if blocks is None else blocks
            if k < 1 or n % k:
                raise ValueError(f"DSA: {n} samples do not split into {k} equal minibatches")
            pick = torch.randint(len(self.ops), (k,), generator=generator, device=device).repeat_interleave(n // k)
            on = {op: pick == i for i, op in enumerate(self.ops)}
        else:
            on = {op: torch.ones(n, dtype=torch.bool, device=device) for op in self.ops}
        off = torch.zeros(n, dtype=torch.bool, device=device)
        on = {op: on.get(op, off) for op in OPS}
        one = torch.ones(n, device=device)
        # Draw every parameter even if unused, so the random stream does not depend on the picks.
        bright, sat, con = rand(), rand(), rand()
        sx, sy, ang, flip = rand(), rand(), rand(), rand()
        shift_h, shift_w = int(H * h.ratio_crop_pad + 0.5), int(W * h.ratio_crop_pad + 0.5)
        tx = torch.randint(-shift_w, shift_w + 1, (n,), generator=generator, device=device)
        ty = torch.randint(-shift_h, shift_h + 1, (n,), generator=generator, device=device)
        cut_h, cut_w = int(H * h.ratio_cutout + 0.5), int(W * h.ratio_cutout + 0.5)
        cx = torch.randint(0, W + (1 - cut_w % 2), (n,), generator=generator, device=device)
        cy = torch.randint(0, H + (1 - cut_h % 2), (n,), generator=generator, device=device)

        lo = 1.0 / h.ratio_scale
        scale_x = torch.where(on["scale"], sx * (h.ratio_scale - lo) + lo, one)
        scale_y = torch.where(on["scale"], sy * (h.ratio_scale - lo) + lo, one)
        theta = torch.where(on["rotate"], (ang - 0.5) * 2 * h.ratio_rotate / 180 * math.pi, 0 * one)
        mirror = torch.where(on["flip"] & (flip < h.prob_flip), -one, one)
        cos, sin = torch.cos(theta), torch.sin(theta)
        # A = R(theta) @ S(scale) @ M(flip); translation in normalised units (align_corners=True).
        a = torch.stack([torch.stack([cos * scale_x * mirror, sin * scale_y], -1),
                         torch.stack([-sin * scale_x * mirror, cos * scale_y], -1)], -2)
        t = torch.stack([torch.where(on["crop"], tx * 2.0 / max(W - 1, 1), 0 * one),
                         torch.where(on["crop"], ty * 2.0 / max(H - 1, 1), 0 * one)], -1)
        return {
            "brightness": torch.where(on["color"], (bright - 0.5) * h.brightness, 0 * one),
            "saturation": torch.where(on["color"], sat * h.saturation, one),
            "contrast": torch.where(on["color"], con + h.contrast, one),
            "affine": torch.cat([a, t.unsqueeze(-1)], -1),  # (n, 2, 3)
            "cutout": on["cutout"], "cut_x": cx, "cut_y": cy,
            "cut_size": torch.tensor([cut_h, cut_w], device=device),
        }

    def apply(self, x: torch.Tensor, p: dict[str, torch.Tensor], group: torch.Tensor | None = None) -> torch.Tensor:
        """Transform x (b, c, h, w) with parameters p; `group` maps each sample to its row of p."""
        if not self.ops:
            return x
        if group is not None:
            p = {k: (v if k == "cut_size" else v[group]) for k, v in p.items()}
        b = x.shape[0]
        if "color" in self.ops:
            x = x + p["brightness"].view(b, 1, 1, 1)
            m = x.mean(1, keepdim=True)
            x = (x - m) * p["saturation"].view(b, 1, 1, 1) + m
            m = x.mean((1, 2, 3), keepdim=True)
            x = (x - m) * p["contrast"].view(b, 1, 1, 1) + m
        if any(op in self.ops for op in ("crop", "flip", "scale", "rotate")):
            grid = F.affine_grid(p["affine"].to(x.dtype), list(x.shape), align_corners=True)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        if "cutout" in self.ops:
            H, W = x.shape[-2:]
            ch, cw = p["cut_size"][0], p["cut_size"][1]
            rows = torch.arange(H, device=x.device).view(1, H)
            cols = torch.arange(W, device=x.device).view(1, W)
            y0 = (p["cut_y"] - ch // 2).view(b, 1)
            x0 = (p["cut_x"] - cw // 2).view(b, 1)
            in_r = (rows >= y0) & (rows < y0 + ch)
            in_c = (cols >= x0) & (cols < x0 + cw)
            hole = in_r.unsqueeze(2) & in_c.unsqueeze(1) & p["cutout"].view(b, 1, 1)
            x = x * (~hole).unsqueeze(1).to(x.dtype)
        return x

    def __call__(self, x: torch.Tensor, generator: torch.Generator, blocks: int | None = 1) -> torch.Tensor:
        """Random transform of a minibatch (of `blocks` minibatches side by side): one operation
        per minibatch, its magnitudes per sample, as the reference DSA; blocks=None draws the
        operation per sample."""
        if not self.ops:
            return x
        return self.apply(x, self.sample(x.shape[0], tuple(x.shape[-2:]), generator, x.device, blocks))

    def siamese(self, xs: list[torch.Tensor], groups: list[torch.Tensor], n_groups: int,
                generator: torch.Generator) -> list[torch.Tensor]:
        """Transform several batches with one shared draw per group (e.g. per class)."""
        if not self.ops:
            return xs
        p = self.sample(n_groups, tuple(xs[0].shape[-2:]), generator, xs[0].device)
        return [self.apply(x, p, g) for x, g in zip(xs, groups)]
