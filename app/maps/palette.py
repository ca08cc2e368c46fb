"""Map colours that can be told apart: the CIEDE2000 colour difference and the legend check.

A colour on a GapMap map means one thing: a status (达标 / 未达标 / 无数据 …) or a category
(a facility kind, a road surface), never both. Each builder's legend therefore has no two
entries whose colours are closer than :data:`MIN_DELTA_E` (CIEDE2000, sRGB under D65), and
:func:`legend_clashes` says which are. Where one status is shown for two kinds of unit (a
village that is connected and a relocation site that meets the standard), the legend has one
entry for both, not two entries of one colour.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["MIN_DELTA_E", "delta_e2000", "delta_e2000_lab", "legend_clashes", "to_lab"]

MIN_DELTA_E = 10.0
"""Smallest CIEDE2000 difference between two legend colours of one map.

About 2 is a just-noticeable difference side by side; small map symbols on a tablet in
daylight or on a grey office print need several times more (10 keeps e.g. ``#2e7d32`` and
``#43a047`` apart, ΔE ≈ 9)."""


def to_lab(hex_color: str) -> np.ndarray:
    """CIE L*a*b* (D65) of an sRGB colour ``#rrggbb`` (or ``#rgb``)."""
    h = hex_color.strip().lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    if len(h) != 6:
        raise ValueError(f"not an #rrggbb colour: {hex_color!r}")
    rgb = np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)], dtype=float) / 255.0
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = (
        np.array(
            [
                [0.4124564, 0.3575761, 0.1804375],
                [0.2126729, 0.7151522, 0.0721750],
                [0.0193339, 0.1191920, 0.9503041],
            ]
        )
        @ lin
    )
    white = np.array([0.95047, 1.0, 1.08883])
    t = xyz / white
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def delta_e2000(color_a: str, color_b: str) -> float:
    """CIEDE2000 difference of two sRGB colours (Sharma, Wu & Dalal 2005; kL = kC = kH = 1)."""
    return delta_e2000_lab(to_lab(color_a), to_lab(color_b))


def delta_e2000_lab(lab_a: Sequence[float], lab_b: Sequence[float]) -> float:
    """CIEDE2000 difference of two CIE L*a*b* colours."""
    l1, a1, b1 = (float(v) for v in lab_a)
    l2, a2, b2 = (float(v) for v in lab_b)
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360 if c1p else 0.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360 if c2p else 0.0
    dl, dc = l2 - l1, c2p - c1p
    if c1p * c2p == 0:
        dh = 0.0
    elif abs(h2p - h1p) <= 180:
        dh = h2p - h1p
    else:
        dh = h2p - h1p - 360 if h2p > h1p else h2p - h1p + 360
    dhh = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_bar, c_bar_p = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_bar = (h1p + h2p) / 2
    else:
        h_bar = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (
        1
        - 0.17 * np.cos(np.radians(h_bar - 30))
        + 0.24 * np.cos(np.radians(2 * h_bar))
        + 0.32 * np.cos(np.radians(3 * h_bar + 6))
        - 0.20 * np.cos(np.radians(4 * h_bar - 63))
    )
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(c_bar_p**7 / (c_bar_p**7 + 25.0**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * c_bar_p
    s_h = 1 + 0.015 * c_bar_p * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return float(
        np.sqrt(
            (dl / s_l) ** 2 + (dc / s_c) ** 2 + (dhh / s_h) ** 2 + r_t * (dc / s_c) * (dhh / s_h)
        )
    )


def legend_clashes(
    entries: Iterable[tuple[str, str]], *, min_delta_e: float = MIN_DELTA_E
) -> list[tuple[str, str, float]]:
    """Pairs of legend entries whose colours are too close to tell apart.

    Parameters
    ----------
    entries : iterable of (colour, label)
        A map's legend rows (``#rrggbb`` colour, Chinese label).
    min_delta_e : float
        Smallest allowed CIEDE2000 difference.

    Returns
    -------
    list of (label, label, ΔE)
        Every pair of different labels closer than ``min_delta_e``, ΔE rounded to 0.1.
    """
    rows: Sequence[tuple[str, str]] = list(entries)
    out = []
    for (c1, l1), (c2, l2) in itertools.combinations(rows, 2):
        if l1 == l2:
            continue
        d = delta_e2000(c1, c2)
        if d < min_delta_e:
            out.append((l1, l2, round(d, 1)))
    return out
