"""Skin-tone groups by individual typology angle (ITA, degrees), light to dark.

ITA = atan((L* - 50) / b*) in degrees (Chardon et al. 1991; Del Bino et al. 2006 bands). One definition
for the generator, which draws skin per band, and for the evaluation, which reports figures per band.
"""
from __future__ import annotations

import math

# (name, lower bound exclusive, upper bound) in degrees; the generator draws ITA within [low, high].
ITA_BANDS: tuple[tuple[str, float, float], ...] = (
    ("very_light", 55.0, 70.0), ("light", 41.0, 55.0), ("intermediate", 28.0, 41.0),
    ("tan", 10.0, 28.0), ("brown", -30.0, 10.0), ("dark", -60.0, -30.0),
)
FITZPATRICK_BY_BAND = {"very_light": "I", "light": "II", "intermediate": "III", "tan": "IV",
                       "brown": "V", "dark": "VI"}


def ita_band(ita: float | None) -> str:
    """Name of the ITA band an angle falls in (above 55 very_light ... at or below -30 dark); 'unknown' if None/NaN."""
    if ita is None or not math.isfinite(ita):
        return "unknown"
    for name, low, _high in ITA_BANDS:
        if ita > low:
            return name
    return ITA_BANDS[-1][0]
