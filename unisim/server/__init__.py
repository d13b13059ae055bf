"""The team tracking server: ``mlflow server`` on PostgreSQL, started and stopped by unisim.

    from unisim.server import load_server_settings, start_server, stop_server, server_status
    state = start_server(load_server_settings("team", port=5001))
    print(state.uri)                       # http://127.0.0.1:5001 -> MLFLOW_TRACKING_URI
    stop_server(load_server_settings("team").state_path)

Settings live in ``mlruns-config/server.yaml`` (``settings.py``); the process tree
is handled in ``process.py``. Nothing here imports mlflow: the server runs in its
own processes.
"""

from unisim.server.process import (
    ServerState,
    check_health,
    run_foreground,
    server_processes,
    server_status,
    start_server,
    stop_server,
    upgrade_database,
)
from unisim.server.settings import ServerSettings, load_server_settings, redact_uri

__all__ = [
    "ServerSettings",
    "ServerState",
    "check_health",
    "load_server_settings",
    "redact_uri",
    "run_foreground",
    "server_processes",
    "server_status",
    "start_server",
    "stop_server",
    "upgrade_database",
]
