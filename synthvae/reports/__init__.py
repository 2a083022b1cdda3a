"""Fidelity and privacy reports for synthetic tables: ``evaluate(real, synthetic, holdout)``.

Modules: ``evaluate`` (the entry point), ``conform`` (the other tables in the real table's
column types), ``fidelity`` (sdmetrics reports), ``detection``,
``efficacy``, ``coverage`` (alpha-precision / beta-recall), ``privacy`` (exact copies, DCR),
``membership`` (membership-inference attacks), ``disclosure`` (attribute inference, DP),
``encoding`` and ``neighbors`` (shared numeric forms and nearest-neighbour search),
``report`` (the Report object), ``html`` (the offline HTML page). See docs/reports.md.
"""

from synthvae.reports.evaluate import evaluate
from synthvae.reports.report import Report

__all__ = ["evaluate", "Report"]
