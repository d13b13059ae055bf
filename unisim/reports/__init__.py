"""Read-only views of the store: the leaderboard, the config catalog, the run browser.

    from unisim.reports.leaderboard import build_leaderboard, write_leaderboard
    from unisim.reports.catalog import build_catalog
    from unisim.reports.runs import list_runs, show_run, compare_runs
"""
