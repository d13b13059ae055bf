"""Evaluation: metrics (pure functions), rollouts, physics checks, gates, reports, plots."""
