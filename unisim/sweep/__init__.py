"""Hyperparameter search with Optuna; every trial an MLflow run (``unisim sweep``).

    from unisim.sweep.run import SweepRequest, run_sweep
    result = run_sweep(SweepRequest(config, space_path, n_trials=16, workers=2))

Modules: ``space`` (the search-space file, checked against the config schema),
``objective`` (one trial: ``train_model`` plus a pruning callback), ``worker`` (claim,
run and record trials until the study holds N), ``storage`` (where the study lives,
the claim lock, dead workers), ``run`` (the study, the sweep run, local workers),
``result`` (trials table, plots, the best config's experiment folder). Importing this
package imports neither optuna nor torch.
"""
