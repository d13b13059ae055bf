"""``python -m unisim ...`` is the same as the ``unisim`` console script."""

from unisim.cli import run

run()
