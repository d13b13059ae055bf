"""Read-only views of the store: the leaderboard (`reports.leaderboard`), the config
catalog (`reports.catalog`) and the run browser (`reports.runs`)."""
