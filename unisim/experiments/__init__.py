"""Experiment folders and their lifecycle: create, status, archive and restore, migrate.

    from unisim.experiments.status import list_experiments     # status from MLflow run tags
    from unisim.experiments.folders import new_experiment       # experiments/YYYY-MM-DD-name/
    from unisim.experiments.archive import archive, restore     # crash-safe moves
    from unisim.experiments.migrate import migrate_configs      # configs/*_experimental*.yaml

MLflow is read and written through ``unisim.tracking`` only.
"""
