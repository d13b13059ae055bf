"""Building blocks of the config tree, shared by ``unisim.config.schema`` and the model specs.

    from unisim.config.base import CrossFieldError, ModelSpec, Section

    class FNOConfig(Section):                       # a section: frozen, unknown keys refused
        modes: int = Field(16, ge=1)

    class FNOModelConfig(ModelSpec):                # one member of the ``model`` union
        name: Literal["fno"] = "fno"
        fno: FNOConfig = FNOConfig()

        def check_grid(self, nx: int, nt: int) -> None:
            if self.fno.modes > nx // 2 + 1:
                raise CrossFieldError(f"model.fno.modes=... exceeds ...", "model.fno.modes")

This module imports only pydantic: architecture modules (``unisim/models/*.py``) import
it while ``unisim.config.schema`` imports them to build the ``model`` union, so it must
not import the schema (nor torch).
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

# Validation context flag: the mapping is a config that an earlier run stored (a config.yaml
# artifact, a checkpoint), read with unisim.config.build_stored_config.
STORED = "stored"


def _leaf_types(tp: Any) -> Iterator[Any]:
    origin = get_origin(tp)
    if origin is Annotated:
        yield from _leaf_types(get_args(tp)[0])
    elif origin is Union or origin is types.UnionType:
        for arg in get_args(tp):
            yield from _leaf_types(arg)
    else:
        yield tp


def _is_number(annotation: Any) -> bool:
    """An int or float field (optional or not) that does not also accept booleans."""
    leaves = set(_leaf_types(annotation))
    return bool(leaves & {int, float}) and bool not in leaves


class Section(BaseModel):
    """A config section: frozen, unknown keys refused, no booleans for numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        # bool is an int subclass and pydantic's lax mode takes it as one: without this,
        # `epochs: true` would train one epoch.
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _is_number(field.annotation):
            raise ValueError("must be a number, not a boolean")
        return value


class CrossFieldError(ValueError):
    """A check across keys failed. ``keys`` are dotted paths from the section that raises it.

    The loader names the first key that came from ``--set`` (and blames ``--set``), else
    the first key (and blames the file). The message should give the values involved.
    """

    def __init__(self, message: str, *keys: str) -> None:
        super().__init__(message)
        self.keys = keys


class ModelSpec(Section):
    """What every architecture's config shares; a subclass is one member of the ``model`` union.

    A subclass sets ``name: Literal["<name>"] = "<name>"`` and adds its own sections
    (``latent:``, ``fno:``); ``sections()`` lists them, so the loader knows which keys
    belong to which architecture.
    """

    name: str
    context: int = Field(1, ge=1)  # input time steps
    # feed the PDE's conditioning vector (its coefficients, normalised by the PDE spec) to
    # the model; matters when trajectories differ in their coefficients
    condition: bool = True

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """``condition_nu`` is the name from before the PDE seam (viscosity only)."""
        if isinstance(data, dict) and "condition_nu" in data:
            data = dict(data)
            value = data.pop("condition_nu")
            data.setdefault("condition", value)
        return data

    def check_grid(self, nx: int, nt: int) -> None:
        """Refuse settings that do not fit the grid the model sees (``nx`` points, ``nt``
        times, after downsampling) with a ``CrossFieldError`` whose keys start at the
        config's root (``model.latent.tokens``). The default accepts every grid."""

    @classmethod
    def arch_name(cls) -> str:
        """The ``model.name`` that selects this spec."""
        return str(cls.model_fields["name"].default)

    @classmethod
    def sections(cls) -> tuple[str, ...]:
        """Keys this architecture adds to ``model:`` (``("latent",)``)."""
        return tuple(k for k in cls.model_fields if k not in ModelSpec.model_fields)
