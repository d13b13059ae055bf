"""Metric names that evaluation reports and a gate may use (no torch, no numpy).

    from unisim.evaluation.names import KNOWN_METRICS
    "final_nrmse" in KNOWN_METRICS       # the headline: rollout nRMSE on the test split

A leaf module: ``unisim.config`` validates ``gates.metrics[].metric`` against
``KNOWN_METRICS`` when a config loads, and the evaluation engine produces these keys.
"""

from __future__ import annotations

# Rollout error metrics; ``nrmse`` is reported as ``final_nrmse``, the one-step ones with
# a ``one_step_`` prefix.
ROLLOUT_KEYS = ("nrmse", "rmse", "crmse", "max_error", "frmse_low", "frmse_mid", "frmse_high")
PHYSICS_KEYS = (
    "conservation_gap",
    "conservation_gap_max",
    "energy_violation",
    "energy_violation_max",
    "energy_increase_count",
    "energy_increase_fraction",
    "nonfinite",
    "nonfinite_fraction",
)
# ratio_to_* appear when the baseline was evaluated.
RATIO_KEYS = ("ratio_to_persistence", "ratio_to_champion", "ratio_to_fno")
WORST_DECILE = "worst_decile_nrmse"  # mean rollout nRMSE of the worst 10% of trajectories
KNOWN_METRICS = (
    "final_nrmse",
    WORST_DECILE,
    *(k for k in ROLLOUT_KEYS if k != "nrmse"),
    *(f"one_step_{k}" for k in ROLLOUT_KEYS),
    *PHYSICS_KEYS,
    *RATIO_KEYS,
)
