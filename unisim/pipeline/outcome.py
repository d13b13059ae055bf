"""What a pipeline stage returns, in process or isolated: one typed outcome.

    out = StageOutcome.from_train(train_result)       # in process
    out = StageOutcome.from_eval("eval-full", eval_result)
    out = StageOutcome.read("result.json")            # what `unisim train|evaluate
                                                      #   --result-json F` wrote (--isolate)

``StageOutcome`` is also the schema of ``--result-json``: the pipeline reads the same
fields whether a stage ran in this process or in a subprocess.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from unisim import tracking as T

EXIT_OK, EXIT_GATES, EXIT_BAD_INPUT, EXIT_STAGE_FAILED = 0, 1, 2, 3


@dataclass
class StageOutcome:
    """One stage: how it ended, its run, its metrics and (evaluations) its gates."""

    name: str  # data | train | eval-fast | eval-full
    status: str = "ok"  # ok | reused | failed | skipped
    seconds: float = 0.0
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    detail: str = ""
    gates_passed: bool | None = None  # evaluations only
    gates: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] | None = None  # evaluations: report.json
    info: dict[str, Any] = field(default_factory=dict)  # the command's own result (below)
    seed: int | None = None  # train and evaluate stages: the training seed
    per_trajectory: list[float] = field(default_factory=list)  # evaluations: rollout nRMSE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: str | Path) -> None:
        from unisim.fsutil import atomic_write_json

        atomic_write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | Path) -> StageOutcome:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @classmethod
    def from_train(cls, result: Any, status: str = "ok", seed: int | None = None) -> StageOutcome:
        """From ``training.TrainResult``: the run and its best validation nRMSE."""
        return cls(
            name="train",
            status=status,
            seed=seed,
            run_id=result.run_id,
            metrics={T.VAL_BEST_NRMSE: result.best_val_nrmse},
            detail=f"{result.epochs_run} epochs ({result.stop_reason})",
            info=result.to_dict(),  # TrainResult: model_uri, epochs_run, checkpoints, ...
        )

    @classmethod
    def from_eval(
        cls, name: str, result: Any, status: str = "ok", seed: int | None = None
    ) -> StageOutcome:
        """From ``evaluation.EvalResult``."""
        rows = [row.to_dict() for row in result.gates]
        return cls(
            name=name,
            status=status,
            seed=seed,
            per_trajectory=list(result.per_trajectory),
            run_id=result.run_id,
            metrics=dict(result.metrics),
            detail="gates passed" if result.gates_passed else "gates FAILED",
            gates_passed=bool(result.gates_passed),
            gates=rows,
            report=result.report,
            info={
                k: v
                for k, v in result.to_dict().items()
                if k not in ("report", "gates", "per_trajectory")
            },
        )


class StageFailed(Exception):
    """A stage crashed; the pipeline run ends with status failed and names it."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"stage {stage} failed: {reason}")
        self.stage = stage
        self.reason = reason


@dataclass
class PipelineResult:
    run_id: str
    experiment_id: str
    experiment: str
    status: str  # success | failed
    gates_passed: bool
    exit_code: int
    final_nrmse: float | None
    stages: list[StageOutcome]
    gates: list[dict[str, Any]]
    failed_stage: str | None = None
    failure_reason: str | None = None  # "stage train: NonFiniteLoss: ..." (the run's tag)
    links: dict[str, str] = field(default_factory=dict)
    # final_nrmse over seeds and test trajectories: mean, std, interval, per seed (statistics.py)
    seeds: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        for stage in data["stages"]:
            stage.pop("report", None)  # report.json is its own artifact
            stage.pop("info", None)
            stage.pop("per_trajectory", None)  # per_trajectory.csv
        return data
