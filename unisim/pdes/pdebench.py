"""PDEBench's 1D HDF5 files per PDE family: coefficients from the file, data via the layout reader.

    from unisim.pdes import get_pde
    data = get_pde("advection").read_pdebench("1D_Advection_Sols_beta0.4.hdf5", n=64,
                                              downsample_x=4, downsample_t=5)
    data.tensor.shape, data.coeffs        # (64, 41, 256) float32, (64, 1) [[0.4], ...]
    family_of("ReacDiff_Nu0.5_Rho1.0.hdf5")   # "reaction_diffusion"

Layout (``unisim/data/pdebench.py`` reads it; PDEBench's
``pdebench/data_gen/data_gen_NLE/Data_Merge.py::transform`` writes it): ``tensor`` (N, T, X)
float32, ``x-coordinate`` (X,) cell centres, ``t-coordinate`` (T,) or (T + 1,). File names,
as in ``pdebench/data_download/pdebench_data_urls.csv``:

* ``1D_Burgers_Sols_Nu0.001.hdf5`` .. ``Nu4.0`` (attribute ``Nu`` when Data_Merge wrote it);
* ``1D_Advection_Sols_beta0.1.hdf5`` .. ``beta7.0`` (attribute ``beta``);
* ``ReacDiff_Nu0.5_Rho1.0.hdf5`` and the test files ``ReacDiff_react_Nu0.5_Rho1.0.hdf5``
  (attributes ``Nu`` and ``rho``).

Coefficients come, in this order of precedence, from a ``coefficients`` dataset (N, C)
(one row per trajectory, with a ``names`` attribute; files that mix coefficients), from
file attributes (any capitalisation), else from the file name. An attribute and a name that
disagree are an error. PDEBench's files hold one coefficient value for all trajectories.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisim.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from unisim.pdes.base import PDE

NUMBER = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
COEFFICIENTS = "coefficients"  # optional (N, C) dataset: per-trajectory coefficients


@dataclass(frozen=True)
class PDEBenchNaming:
    """How a family's PDEBench files are named and where their coefficients are."""

    pattern: str  # regex on the file name; one NUMBER group per coefficient, in order
    glob: str  # e.g. "1D_Burgers_Sols_Nu*.hdf5"
    source: str  # the PDEBench script that made the files (for the docs)
    downsample: tuple[int, int] = (4, 5)  # PDEBench baselines' (x, t) reduction

    def coefficients_from_name(self, path: str | Path, names: tuple[str, ...]) -> dict | None:
        """``{"nu": 0.5, "rho": 1.0}`` from the file name, or None when it does not match."""
        match = re.search(self.pattern, Path(path).name)
        if match is None:
            return None
        return {name: float(value) for name, value in zip(names, match.groups(), strict=True)}


@dataclass(frozen=True)
class PDEBenchData:
    """The first ``n`` trajectories of a file, downsampled, with their coefficients."""

    tensor: np.ndarray  # (n, T', X') float32
    x: np.ndarray  # (X',) float64
    t: np.ndarray  # (T',) float64
    coeffs: np.ndarray  # (n, C) float64, columns as pde.coefficient_names
    n_total: int  # trajectories in the file
    shape: tuple[int, int, int]  # the file's (N, T, X) before downsampling
    path: Path
    coefficient_source: str  # "dataset", "attribute" or "file name"
    attrs: dict[str, Any] = field(default_factory=dict)


def family_of(path: str | Path) -> str | None:
    """Name of the registered PDE whose PDEBench file names match ``path``, or None."""
    from unisim.pdes import PDES

    for name, pde in PDES.items():
        naming = pde.pdebench
        if naming and naming.coefficients_from_name(path, pde.coefficient_names) is not None:
            return name
    return None


def _from_attributes(attrs: dict[str, Any], names: tuple[str, ...]) -> dict[str, float] | None:
    lower = {k.lower(): v for k, v in attrs.items()}
    found = {name: float(lower[name.lower()]) for name in names if name.lower() in lower}
    return found if len(found) == len(names) else None


def file_coefficients(
    path: str | Path, attrs: dict[str, Any], pde: PDE
) -> tuple[dict[str, float], str]:
    """One value per coefficient for the whole file, and where it came from."""
    names = pde.coefficient_names
    by_attr = _from_attributes(attrs, names)
    naming = pde.pdebench
    by_name = naming.coefficients_from_name(path, names) if naming else None
    if by_attr and by_name:
        for key in names:
            if not math.isclose(by_attr[key], by_name[key], rel_tol=1e-6):
                raise ConfigError(
                    f"{path}: attribute {key}={by_attr[key]:g} disagrees with the file name "
                    f"({key}={by_name[key]:g})"
                )
    if by_attr:
        return by_attr, "attribute"
    if by_name:
        return by_name, "file name"
    expected = f" (PDEBench names them {naming.glob})" if naming else ""
    raise ConfigError(
        f"{path}: cannot tell {', '.join(names)}: no attributes and the name does not "
        f"match{expected}"
    )


def read_pdebench(
    path: str | Path,
    pde: PDE,
    n: int | None = None,
    downsample_x: int = 1,
    downsample_t: int = 1,
) -> PDEBenchData:
    """Read a PDEBench-layout file of ``pde``'s family, coefficients included."""
    import numpy as np

    from unisim.data.pdebench import open_checked, plain, read_layout

    path = Path(path)
    layout = read_layout(path, n, downsample_x, downsample_t)
    rows = layout.tensor.shape[0]
    f, _ = open_checked(path)
    with f:
        table = np.asarray(f[COEFFICIENTS][:rows], np.float64) if COEFFICIENTS in f else None
        names = plain(f[COEFFICIENTS].attrs.get("names", "")) if table is not None else ""
    if table is not None:
        if table.shape != (rows, len(pde.coefficients)) or names != ",".join(pde.coefficient_names):
            raise ConfigError(
                f"{path}: '{COEFFICIENTS}' {table.shape} named {names!r} is not one row of "
                f"{','.join(pde.coefficient_names)} per trajectory"
            )
        coeffs, source = table, "dataset"
    else:
        values, source = file_coefficients(path, layout.attrs, pde)
        coeffs = np.tile([values[c] for c in pde.coefficient_names], (rows, 1)).astype(np.float64)
    for i, c in enumerate(pde.coefficients):
        for value in np.unique(coeffs[:, i]):
            c.check(float(value), key=f"{path.name}: {c.name}")
    return PDEBenchData(
        tensor=layout.tensor,
        x=layout.x,
        t=layout.t,
        coeffs=coeffs,
        n_total=layout.n_total,
        shape=layout.shape,
        path=path,
        coefficient_source=source,
        attrs=layout.attrs,
    )
