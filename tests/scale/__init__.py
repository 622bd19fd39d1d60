"""The pipeline on a NATS cluster, and several instances of each service."""

__all__ = ["DRAWDOWN_RULES"]

# One rule, fired by a risk event over 10 % drawdown: the alert these tests follow.
DRAWDOWN_RULES = """
rules:
  - name: Drawdown
    kind: threshold
    event: risk
    field: drawdown_pct
    warning: 10
    resolve: 8
    summary: Drawdown from peak equity
    runbook: docs/runbooks.md#drawdown
"""
