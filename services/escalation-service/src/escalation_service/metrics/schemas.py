"""Response model of the bug metrics."""

from __future__ import annotations

from pydantic import BaseModel


class BugMetrics(BaseModel):
    bugs: int
    average_report_quality: float | None
    """Mean completeness score (0-100) of the reports."""
    escalated: int
    escalated_without_rework_share: float | None
    """Share of escalated bugs that never went back for information or reproduction."""
    mean_time_to_reproduce_seconds: float | None
    reproduction_rate: float | None
    """Reproduced bugs among bugs with at least one reproduction attempt."""
