"""How every benchmark words a figure against its target, so the reports read alike."""

from __future__ import annotations


def verdict(value: float, bound: float | None, higher_is_better: bool) -> str:
    """ "met" or "MISSED" against a floor (``higher_is_better``) or a ceiling (the bound
    itself meets it); "-" without a target or a figure (NaN)."""
    if bound is None or value != value:
        return "-"
    met = value >= bound if higher_is_better else value <= bound
    return "met" if met else "MISSED"
