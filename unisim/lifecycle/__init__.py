"""Experiment lifecycle on MLflow: experiment folders and status, archive, promotion, leaderboard.

from unisim.lifecycle.promote import promote_run
from unisim.lifecycle.leaderboard import build_leaderboard, write_leaderboard
"""
