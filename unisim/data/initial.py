"""Moved to ``unisim.pdes.initial`` (shared by the PDE plug-ins); kept so imports work.

    from unisim.data.initial import draw_initial_conditions, init_multi

New code imports from ``unisim.pdes`` directly.
"""

from __future__ import annotations

from unisim.pdes.initial import (
    WINDOW_TRANSITION,
    InitialConditions,
    draw_initial_conditions,
    init_multi,
)

__all__ = ["WINDOW_TRANSITION", "InitialConditions", "draw_initial_conditions", "init_multi"]
