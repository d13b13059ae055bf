"""Moved to ``unisim.pdes.burgers_exact`` (the Burgers PDE plug-in); kept so imports work.

    from unisim.data.exact import cole_hopf

New code imports from ``unisim.pdes`` directly.
"""

from __future__ import annotations

from unisim.pdes.burgers_exact import cole_hopf

__all__ = ["cole_hopf"]
