"""CLI command modules: each parses, calls one library function, prints, returns an exit code.

These modules import only typer/rich at import time; torch and mlflow load inside commands.
"""
