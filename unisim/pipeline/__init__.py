"""Fast-to-SOTA orchestrator: data -> train -> fast eval -> gates -> full eval -> gates -> board.

    from unisim.pipeline import run_pipeline
    result = run_pipeline("configs/train_burgers_golden.yaml", ["training.epochs=2"])
    result.exit_code  # 0 ok, 1 gate failed under strict_exit, 3 a stage crashed

One parent MLflow run (``unisim.kind=pipeline``) holds a nested child run per
stage. Modules: ``outcome`` (StageOutcome: what every stage returns, also the
``--result-json`` schema of ``--isolate``; PipelineResult; exit codes), ``stages``
(the context and one function per stage, reuse and isolation), ``run``
(``run_pipeline``: the stages in order, the parent run's record, leaderboard,
optional auto-promotion).
"""

from __future__ import annotations

from unisim.pipeline.outcome import (
    EXIT_BAD_INPUT,
    EXIT_GATES,
    EXIT_OK,
    EXIT_STAGE_FAILED,
    PipelineResult,
    StageFailed,
    StageOutcome,
)
from unisim.pipeline.run import run_pipeline

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_GATES",
    "EXIT_OK",
    "EXIT_STAGE_FAILED",
    "PipelineResult",
    "StageFailed",
    "StageOutcome",
    "run_pipeline",
]
