"""PDE plug-ins: a registry of PDE families, each with a typed spec, solver, ICs and checks.

    from unisim.pdes import PDES, EquationSpec, Grid, get_pde, pde_names
    pde_names()                           # ("advection", "burgers", "reaction_diffusion")
    pde = get_pde("burgers")              # ConfigError naming data.equation.name if unknown
    spec = pde.spec_type(nu=0.01)         # or pde_for(spec) / get_pde(spec.name)
    pde.solve(u0, coeffs, grid, spec)     # see unisim/pdes/base.py for the whole interface

``EquationSpec`` is the discriminated union (on ``name``) of every registered spec, for the
config's ``data.equation`` field: a typo in a name or key fails at load. A new family is
one new module with a ``Spec`` subclass and a ``PDE`` subclass, added to ``_FAMILIES``.

Importing this package imports pydantic, not numpy, torch or mlflow.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from unisim.errors import ConfigError
from unisim.pdes.advection import ADVECTION, AdvectionSpec
from unisim.pdes.base import (
    KEY,
    PDE,
    Coefficient,
    Grid,
    Invariant,
    LogUniform,
    ReferenceCase,
    Spec,
)
from unisim.pdes.burgers import BURGERS, BurgersSpec
from unisim.pdes.initial import InitMulti
from unisim.pdes.reaction_diffusion import REACTION_DIFFUSION, ReactionDiffusionSpec

_FAMILIES: tuple[PDE, ...] = (ADVECTION, BURGERS, REACTION_DIFFUSION)
PDES: dict[str, PDE] = {pde.name: pde for pde in _FAMILIES}

EquationSpec = Annotated[
    Union[AdvectionSpec, BurgersSpec, ReactionDiffusionSpec],  # noqa: UP007 (runtime union)
    Field(discriminator="name"),
]


def pde_names() -> tuple[str, ...]:
    return tuple(sorted(PDES))


def get_pde(name: str) -> PDE:
    """The registered PDE called ``name``; a one-line ConfigError listing the names if none."""
    try:
        return PDES[name]
    except KeyError:
        raise ConfigError(
            f"{KEY}.name={name!r} is not a registered PDE (one of {', '.join(pde_names())})"
        ) from None


def pde_for(spec: Spec) -> PDE:
    """The PDE a spec belongs to (by its ``name`` discriminator)."""
    return get_pde(spec.name)  # type: ignore[attr-defined]


__all__ = [
    "PDE",
    "PDES",
    "AdvectionSpec",
    "BurgersSpec",
    "Coefficient",
    "EquationSpec",
    "Grid",
    "InitMulti",
    "Invariant",
    "LogUniform",
    "ReactionDiffusionSpec",
    "ReferenceCase",
    "Spec",
    "get_pde",
    "pde_for",
    "pde_names",
]
