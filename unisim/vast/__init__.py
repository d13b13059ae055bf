"""Rented GPUs on Vast.ai: search offers, launch a pipeline run, monitor it, shut it down.

    unisim vast search 'gpu_name=RTX_4090 num_gpus=1 dph<1.0'
    unisim vast launch experiments/2026-11-29-64dim/config.yaml --dry-run
    unisim vast launch experiments/2026-11-29-64dim/config.yaml --follow
    unisim vast monitor 12345678

Modules: ``backend`` (the interface, the ``vastai`` SDK adapter, a fake for tests),
``onstart`` (the script the instance runs), ``launch`` (git checks, offer choice,
create + wait, cleanup on failure), ``monitor`` (status polling, log following),
``env`` (which secrets go to the instance, ``setup-env``). Nothing here imports
torch or mlflow; the ``vastai`` SDK is imported only when a real backend is opened.
"""
