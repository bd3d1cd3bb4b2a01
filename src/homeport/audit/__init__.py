"""The audit: what the managed deployment holds and what moving it takes, from a bundle."""

from homeport.audit.cost import CostAssumptions
from homeport.audit.report import build_report, render_html, render_markdown, write_report

__all__ = ["CostAssumptions", "build_report", "render_html", "render_markdown", "write_report"]
