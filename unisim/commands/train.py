"""``unisim train CONFIG``: train one model and log it as an MLflow ``train`` run.

    unisim train configs/train_burgers_golden.yaml --set training.epochs=5
    unisim train experiments/2026-11-29-x/config.yaml --resume      # continue after a crash
    unisim train CONFIG --resume-run 3f2a9c...                       # continue that run
    unisim train CONFIG --nproc 2                                    # DDP workers under torchrun
    unisim train CONFIG --result-json out.json --no-progress         # for scripts and pipelines

Bad input (config errors, nothing to resume, a config hash that does not match
the checkpoint) is one line on stderr, exit 2, before any run is created. A
NaN/Inf loss ends the run FAILED and exits 1.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from unisim.commands.common import (
    ConfigArg,
    ProfileOpt,
    ResultJsonOpt,
    SetOpt,
    TrackingUriOpt,
    console,
    err_console,
    parent_run_option,
    target,
)


def _worker_args(
    config: str,
    set_: list[str] | None,
    resume: bool,
    resume_run: str | None,
    parent_run_id: str | None,
    result_json: str | None,
    tracking_uri: str | None,
    profile: str | None,
    run_name: str | None = None,
) -> list[str]:
    """The same command line minus ``--nproc``, for each torchrun worker."""
    args = ["train", config, "--no-progress"]
    for item in set_ or []:
        args += ["--set", item]
    if resume:
        args.append("--resume")
    for flag, value in (
        ("--resume-run", resume_run),
        ("--parent-run-id", parent_run_id),
        ("--result-json", result_json),
        ("--tracking-uri", tracking_uri),
        ("--profile", profile),
        ("--run-name", run_name),
    ):
        if value:
            args += [flag, value]
    return args


def train(
    config: ConfigArg,
    set_: SetOpt = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the newest checkpoint of this config.")
    ] = False,
    resume_run: Annotated[
        str | None, typer.Option("--resume-run", help="Continue this MLflow run (RUN_ID).")
    ] = None,
    nproc: Annotated[
        int, typer.Option("--nproc", min=1, help="Worker processes (DDP under torchrun).")
    ] = 1,
    parent_run_id: parent_run_option("train") = None,
    result_json: ResultJsonOpt = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
    run_name: Annotated[
        str | None,
        typer.Option("--run-name", help="MLflow run name (default: experiment, overrides, hash)."),
    ] = None,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Train a surrogate from CONFIG; log params, metrics, checkpoint and model to MLflow."""
    from unisim.config import load_config

    cfg = load_config(config, set_)  # bad config: one line, exit 2, nothing started
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        from unisim.training.distributed import launch

        args = _worker_args(
            config,
            set_,
            resume,
            resume_run,
            parent_run_id,
            result_json,
            tracking_uri,
            profile,
            run_name,
        )
        code = launch(nproc, args)
        if code:
            err_console.print(f"error: torchrun workers failed (exit code {code})")
        return code

    from unisim.config import experiment_name
    from unisim.naming import pipeline_run_name
    from unisim.tracking import run_url
    from unisim.training import train_model

    store = target(tracking_uri, profile)
    if run_name is None:
        run_name = "train " + pipeline_run_name(
            cfg, config, set_ or [], experiment_name(config, cfg)
        )
    result = train_model(
        cfg,
        config,
        target=store,
        parent_run_id=parent_run_id,
        resume=resume,
        resume_run_id=resume_run,
        show_progress=progress,
        run_name=run_name,
    )
    if result.run_id is None:  # a torchrun worker other than rank 0
        return 0
    if result_json:  # the pipeline's stage outcome (`unisim run --isolate` reads it)
        from unisim.pipeline.outcome import StageOutcome

        StageOutcome.from_train(result).write(result_json)
    console.print(
        f"train run {result.run_id}: best val/nrmse {result.best_val_nrmse:.4g} "
        f"(epoch {result.best_epoch}/{result.epochs_run}, {result.stop_reason}), "
        f"{result.n_params} params, {result.wall_time_s:.1f} s"
    )
    console.print(f"  model {result.model_uri}")
    console.print(f"  checkpoint {result.checkpoint_path}")
    console.print(f"  {run_url(store, result.experiment_id, result.run_id)}")
    return 0
