"""The PDE plug-ins: one contract every registered PDE passes, then each family's accuracy.

Error bounds are stated where they are asserted; the measured values (on the grids used
here) are in the comments.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from unisim.errors import ConfigError, UnisimError
from unisim.pdes import PDES, EquationSpec, Grid, InitMulti, Invariant, LogUniform, get_pde
from unisim.pdes.advection import shift_spectral
from unisim.pdes.burgers_solver import solve_burgers
from unisim.pdes.initial import draw_initial_conditions, init_multi
from unisim.pdes.reaction_diffusion_solver import diffuse, logistic, solve_reaction_diffusion

NAMES = sorted(PDES)
GRID = Grid(nx=32, solver_nx=512, nt=6, t_final=0.5)  # 512: resolves the ICs' tanh windows
EQUATION = TypeAdapter(EquationSpec)

# spec fields that keep each family cheap on GRID (Burgers' default nu=0.01 needs ~800 points)
CHEAP = {"burgers": {"nu": 0.1}, "advection": {"beta": [0.1, 4.0]}, "reaction_diffusion": {}}
# (spec fields, solver_nx, coefficient row) that each family must refuse as too coarse
TOO_COARSE = {
    "burgers": ({}, 64, [1e-3]),  # shocks of jump 4 at nu=1e-3 need 9425 points
    "advection": ({}, 128, [1.0]),  # tanh windows need 280 points
    "reaction_diffusion": ({"ic": {"p_window": 0.0}}, 128, [1e-3, 10.0]),  # fronts: 210
}


def _rel(u: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(u - ref) / np.linalg.norm(ref))


def _grid(n: int) -> np.ndarray:
    return (np.arange(n) + 0.5) / n


def _data(name: str, n: int = 4, seed: int = 0, grid: Grid = GRID):
    pde = get_pde(name)
    spec = pde.spec_type(**CHEAP[name])
    rng = np.random.default_rng(seed)
    return (
        pde,
        spec,
        pde.initial_conditions(rng, n, grid, spec),
        pde.draw_coefficients(rng, n, spec),
    )


# ---------------------------------------------------------------- the contract


def test_registry_names_and_unknown_name():
    assert NAMES == ["advection", "burgers", "reaction_diffusion"]
    with pytest.raises(ConfigError, match=r"data.equation.name='heat' is not a registered PDE"):
        get_pde("heat")


@pytest.mark.parametrize("name", NAMES)
def test_spec_round_trip_and_refusals(name):
    pde = get_pde(name)
    spec = EQUATION.validate_python({"name": name})
    assert type(spec) is pde.spec_type and spec == pde.spec_type()
    assert EQUATION.validate_json(spec.model_dump_json()) == spec
    assert EQUATION.validate_python(spec.model_dump(mode="json")) == spec
    with pytest.raises(ValidationError, match="extra"):
        EQUATION.validate_python({"name": name, "viscosity": 0.1})
    first = pde.coefficients[0]
    for draw in (
        first.high,
        [first.low, first.high],
        {"log_uniform": [first.high / 2, first.high]},
    ):
        parsed = EQUATION.validate_python({"name": name, first.name: draw})
        assert getattr(parsed, first.name) in (first.high, (first.low, first.high)) or isinstance(
            getattr(parsed, first.name), LogUniform
        )
    with pytest.raises(ValidationError, match="outside the allowed range"):
        EQUATION.validate_python({"name": name, first.name: first.high * 2})
    with pytest.raises(ValidationError, match=r"log_uniform needs 0 < a <= b"):  # its own error
        EQUATION.validate_python({"name": name, first.name: {"log_uniform": [2.0, 1.0]}})
    assert pde.solver_version and pde.name == spec.name


def test_importing_the_specs_imports_neither_numpy_torch_nor_mlflow():
    code = (
        "import sys, unisim.pdes as p; p.EquationSpec; "
        "print(sorted(m for m in ('numpy', 'torch', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", NAMES)
def test_initial_conditions_shapes_and_determinism(name):
    pde, spec = get_pde(name), get_pde(name).spec_type()
    u0 = pde.initial_conditions(np.random.default_rng(7), 6, GRID, spec)
    assert u0.shape == (6, GRID.solver_nx) and u0.dtype == np.float64
    again = pde.initial_conditions(np.random.default_rng(7), 6, GRID, spec)
    assert u0.tobytes() == again.tobytes()
    assert not np.array_equal(u0, pde.initial_conditions(np.random.default_rng(8), 6, GRID, spec))
    ics = pde.draw_initial_conditions(np.random.default_rng(7), 6, spec)  # the store's batches
    halves = [ics.evaluate(GRID.x_solver, slice(0, 2)), ics.evaluate(GRID.x_solver, slice(2, 6))]
    np.testing.assert_array_equal(np.concatenate(halves), u0)


@pytest.mark.parametrize("name", NAMES)
def test_coefficient_draws(name):
    pde = get_pde(name)
    c = pde.coefficients[0]
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    fixed = pde.draw_coefficients(rng, 5, pde.spec_type())
    assert fixed.shape == (5, len(pde.coefficients)) and np.all(fixed == fixed[0])
    assert rng.bit_generator.state == before  # fixed values use no random numbers
    values = (c.low, c.high, (c.low + c.high) / 2)
    drawn = pde.draw_coefficients(rng, 200, pde.spec_type(**{c.name: values}))
    assert set(drawn[:, 0]) == set(values)
    lo, hi = max(c.low, 1e-3), c.high
    spread = pde.spec_type(**{c.name: LogUniform(log_uniform=(lo, hi))})
    a = pde.draw_coefficients(np.random.default_rng(1), 300, spread)
    assert np.all((a[:, 0] >= lo) & (a[:, 0] <= hi)) and a[:, 0].std() > 0
    np.testing.assert_array_equal(a, pde.draw_coefficients(np.random.default_rng(1), 300, spread))


@pytest.mark.parametrize("name", NAMES)
def test_conditioning_maps_the_allowed_range_onto_minus_one_one(name):
    pde = get_pde(name)
    assert len(pde.conditioning_names) == len(pde.coefficients)
    edges = np.array([[c.low for c in pde.coefficients], [c.high for c in pde.coefficients]])
    cond = pde.conditioning(edges)
    assert cond.dtype == np.float32
    np.testing.assert_allclose(cond, [[-1.0] * edges.shape[1], [1.0] * edges.shape[1]], atol=1e-6)
    inside = pde.conditioning(pde.draw_coefficients(np.random.default_rng(0), 8, pde.spec_type()))
    assert np.all(np.abs(inside) <= 1.0)


@pytest.mark.parametrize("name", NAMES)
def test_solve_shapes_finite_and_first_row_is_u0(name):
    pde, spec, u0, coeffs = _data(name)
    ticks = []
    u = pde.solve(u0, coeffs, GRID, spec, on_interval=lambda: ticks.append(1))
    assert u.shape == (4, GRID.nt, GRID.nx) and u.dtype == np.float32
    assert np.all(np.isfinite(u)) and len(ticks) == GRID.nt - 1
    np.testing.assert_array_equal(u[:, 0], u0[:, :: GRID.stride].astype(np.float32))


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution(name):
    pde = get_pde(name)
    grid = Grid(nx=64, solver_nx=128, nt=11, t_final=1.0)
    case = pde.reference(grid)
    u = pde.solve(case.u0, case.coeffs, grid, case.spec)
    # measured: burgers 2.0e-6, advection 2.6e-8, reaction_diffusion 6.1e-8
    error = _rel(u, case.exact)
    assert error < case.tolerance, f"{case.what}: relative L2 error {error:.2e}"


@pytest.mark.parametrize("name", NAMES)
def test_declared_invariants_hold(name):
    pde, spec, u0, coeffs = _data(name, n=6, seed=3)
    u = pde.solve(u0, coeffs, GRID, spec).astype(np.float64)
    mean, energy = u.mean(axis=2), (u**2).mean(axis=2)  # (N, nt)
    declared = pde.invariants(spec)
    if Invariant.MEAN in declared:
        assert np.abs(mean - mean[:, :1]).max() < 1e-6  # float32 storage
    if Invariant.ENERGY in declared:
        assert np.all(np.diff(energy, axis=1) <= 1e-6 * energy[:, :1])
    if not declared:  # reaction: u grows towards 1, the mean is not conserved
        assert np.all(mean[:, -1] > mean[:, 0] + 1e-3)


def test_reaction_diffusion_invariants_follow_rho():
    rd = get_pde("reaction_diffusion")
    assert rd.invariants(rd.spec_type(rho=0.0)) == {Invariant.MEAN, Invariant.ENERGY}
    assert rd.invariants(rd.spec_type(rho=[0.0, 1.0])) == frozenset()


@pytest.mark.parametrize("name", NAMES)
def test_check_grid_refusals_are_one_line_and_name_key_and_value(name):
    pde = get_pde(name)
    spec, row = pde.spec_type(), [c.high for c in pde.coefficients]
    pde.check_grid(GRID.nx, GRID.solver_nx, [row], spec)  # fine
    cases = [
        (33, 512, [row], "data.nx=33"),
        (32, 100, [row], "data.solver_nx=100"),
        (32, 304, [row], r"multiple of data.nx=32"),
        (32, 512, [[c.high * 10 for c in pde.coefficients]], r"data.equation.\w+=\S+ is outside"),
        (32, 512, [[np.nan] * len(row)], "is outside the allowed range"),
    ]
    fields, solver_nx, coarse_row = TOO_COARSE[name]
    coarse_spec = pde.spec_type(**fields)
    for nx, solver_nx_, coeffs, match in cases:
        with pytest.raises(ConfigError, match=match) as err:
            pde.check_grid(nx, solver_nx_, coeffs, spec)
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"data.solver_nx=\d+ is too coarse .*needs") as err:
        pde.check_grid(32, solver_nx, [coarse_row], coarse_spec)
    assert "\n" not in str(err.value)
    need = int(str(err.value).split(">= ")[1].split()[0])
    pde.check_grid(32, need + (-need) % 32, [coarse_row], coarse_spec)  # the suggestion works


@pytest.mark.parametrize("name", NAMES)
def test_cache_name_is_a_file_stem_that_tells_specs_apart(name):
    pde = get_pde(name)
    c = pde.coefficients[0]
    names = {
        pde.cache_name(pde.spec_type()),
        pde.cache_name(pde.spec_type(**{c.name: c.high})),
        pde.cache_name(pde.spec_type(**{c.name: (c.low, c.high)})),
    }
    assert len(names) == 3
    assert all(n.startswith(name) and all(ch.isalnum() or ch in "._-" for ch in n) for n in names)
    assert get_pde("burgers").cache_name(get_pde("burgers").spec_type(nu=0.01)) == "burgers_nu0.01"


# ---------------------------------------------------------------- PDEBench files


def _write_pdebench(path, n=3, nt=6, nx=16, attrs=None):
    import h5py

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=rng.normal(size=(n, nt, nx)).astype(np.float32))
        f.create_dataset("x-coordinate", data=_grid(nx).astype(np.float32))
        f.create_dataset("t-coordinate", data=0.01 * np.arange(nt + 1, dtype=np.float32))
        f.attrs.update(attrs or {})
    return path


@pytest.mark.parametrize(
    ("file", "name", "coeffs"),
    [
        ("1D_Burgers_Sols_Nu0.001.hdf5", "burgers", [0.001]),
        ("1D_Advection_Sols_beta0.4.hdf5", "advection", [0.4]),
        ("ReacDiff_Nu0.5_Rho10.0.hdf5", "reaction_diffusion", [0.5, 10.0]),
        ("ReacDiff_react_Nu2.0_Rho1.0.hdf5", "reaction_diffusion", [2.0, 1.0]),
    ],
)
def test_pdebench_reader_takes_coefficients_from_the_file_name(tmp_path, file, name, coeffs):
    from unisim.pdes.pdebench import family_of

    path = _write_pdebench(tmp_path / file)
    assert family_of(path) == name
    data = get_pde(name).read_pdebench(path, n=2, downsample_x=4, downsample_t=5)
    assert data.tensor.shape == (2, 2, 4) and data.t.shape == (2,) and data.x.shape == (4,)
    np.testing.assert_array_equal(data.coeffs, [coeffs, coeffs])
    assert data.coefficient_source == "file name" and data.n_total == 3


def test_pdebench_reader_attributes_datasets_and_errors(tmp_path):
    burgers, rd = get_pde("burgers"), get_pde("reaction_diffusion")
    plain = _write_pdebench(tmp_path / "mine.hdf5", attrs={"Nu": 0.5, "rho": 2.0})
    data = rd.read_pdebench(plain)
    assert data.coefficient_source == "attribute" and data.coeffs.tolist() == [[0.5, 2.0]] * 3
    with pytest.raises(ConfigError, match="cannot tell nu"):
        burgers.read_pdebench(_write_pdebench(tmp_path / "other.hdf5"))
    clash = _write_pdebench(tmp_path / "1D_Burgers_Sols_Nu0.1.hdf5", attrs={"Nu": 0.2})
    with pytest.raises(ConfigError, match="disagrees with the file name"):
        burgers.read_pdebench(clash)
    with pytest.raises(ConfigError, match="outside the allowed range"):
        burgers.read_pdebench(_write_pdebench(tmp_path / "1D_Burgers_Sols_Nu40.0.hdf5"))
    import h5py

    mixed = _write_pdebench(tmp_path / "mixed.hdf5")
    with h5py.File(mixed, "a") as f:
        f.create_dataset("coefficients", data=[[0.01], [0.1], [1.0]]).attrs["names"] = "nu"
    assert burgers.read_pdebench(mixed).coeffs[:, 0].tolist() == [0.01, 0.1, 1.0]
    with pytest.raises(UnisimError, match="file not found"):
        burgers.read_pdebench(tmp_path / "missing.hdf5")


def test_pdebench_fixture_in_the_repo_reads_as_burgers():
    from pathlib import Path

    fixture = Path(__file__).parent / "fixtures" / "1D_Burgers_Sols_Nu0.1.hdf5"
    data = get_pde("burgers").read_pdebench(fixture, downsample_x=4, downsample_t=5)
    assert data.tensor.shape == (6, 5, 16) and data.coeffs.tolist() == [[0.1]] * 6


# ---------------------------------------------------------------- burgers


def test_burgers_plugin_gives_the_legacy_solver_bytes():
    pde, spec, u0, coeffs = _data("burgers", n=4, seed=1)
    u = pde.solve(u0, coeffs, GRID, spec)
    legacy = solve_burgers(u0, 0.1, GRID.t, stride=GRID.stride).astype(np.float32)
    assert u.tobytes() == legacy.tobytes()


def test_burgers_per_trajectory_viscosities():
    x, t = _grid(256), np.linspace(0.0, 1.0, 6)
    u0 = init_multi(x, 4, np.random.default_rng(2))
    nus = np.array([0.05, 0.3, 1.0, 0.05])
    together = solve_burgers(u0, nus, t)
    alone = np.stack([solve_burgers(u0[i : i + 1], nus[i], t)[0] for i in range(4)])
    # one step for the batch (the most demanding row's); both within the solver's 1e-5
    # accuracy against Cole-Hopf (tests/test_data_solver.py)
    assert _rel(together, alone) < 1e-5  # measured 2.7e-6
    assert not np.allclose(together[0], together[1])  # the viscosities do differ


def test_burgers_batch_order_for_one_nu_is_the_stores_sort_by_spread():
    pde, spec, u0, coeffs = _data("burgers", n=40, seed=4)
    spread = np.abs(u0 - u0.mean(axis=1, keepdims=True)).max(axis=1)
    np.testing.assert_array_equal(
        pde.batch_order(u0, coeffs, spec), np.argsort(spread, kind="stable")
    )


# ---------------------------------------------------------------- advection


def test_advection_is_exact_to_round_off_on_band_limited_data():
    n, t = 128, np.linspace(0.0, 2.0, 9)
    ics = draw_initial_conditions(5, np.random.default_rng(0), InitMulti(p_abs=0, p_window=0))
    betas = np.array([0.01, 0.1, 0.7, 4.0, 100.0])  # beta t up to 200 domain lengths
    u = shift_spectral(ics.evaluate(_grid(n)), betas, t)
    exact = np.stack(
        [
            [ics.evaluate(np.mod(_grid(n) - b * ti, 1.0), [r])[0] for ti in t]
            for r, b in enumerate(betas)
        ]
    )
    assert np.abs(u - exact).max() < 1e-12  # measured 3.4e-15
    energy = (u**2).mean(axis=2)
    assert np.abs(energy - energy[:, :1]).max() < 1e-12
    assert np.abs(u.mean(axis=2) - u[:, :1].mean(axis=2)).max() < 1e-13


def test_advection_whole_cell_shifts_are_rolls_even_for_rough_data():
    n = 64
    u0 = init_multi(_grid(n), 4, np.random.default_rng(5), InitMulti(p_abs=1.0, p_window=1.0))
    u = shift_spectral(u0, 0.25, np.array([0.0, 0.5, 1.0]))  # 8 and 16 cells
    for i, cells in enumerate((0, 8, 16)):
        np.testing.assert_allclose(u[:, i], np.roll(u0, cells, axis=1), atol=1e-13)


@pytest.mark.parametrize(("p_abs", "bound"), [(0.0, 1e-7), (0.1, 5e-5)])
def test_advection_on_pdebench_data_matches_the_shifted_function(p_abs, bound):
    """The spectral shift moves the trigonometric interpolant: exact for the tanh windows on
    1024 points (float32 rounding only), not for the kinks of |u| (Gibbs ringing nearby)."""
    grid = Grid(nx=128, solver_nx=1024, nt=5, t_final=2.0)
    pde = get_pde("advection")
    spec = pde.spec_type(beta=0.4, ic={"p_abs": p_abs, "p_window": 0.5})
    ics = pde.draw_initial_conditions(np.random.default_rng(3), 32, spec)
    u = pde.solve(ics.evaluate(grid.x_solver), np.full((32, 1), 0.4), grid, spec)
    exact = np.stack([ics.evaluate(np.mod(grid.x - 0.4 * ti, 1.0)) for ti in grid.t], axis=1)
    # measured: 2.4e-8 without |u|; 1.8e-5 with PDEBench's p_abs=0.1 (max |error| 1.2e-3,
    # next to the kinks)
    assert _rel(u, exact) < bound


# ---------------------------------------------------------------- reaction-diffusion


def test_pure_diffusion_is_exact_to_round_off():
    x, t = _grid(128), np.linspace(0.0, 1.0, 11)
    ic = InitMulti(normalize=True, p_abs=0.0, p_window=0.0)  # modes j <= 8 < 128/3: kept
    u0 = init_multi(x, 4, np.random.default_rng(6), ic)
    nus = np.array([1e-3, 0.05, 0.5, 10.0])
    u = solve_reaction_diffusion(u0, nus, 0.0, t)
    assert np.abs(u - diffuse(u0, nus, t)).max() < 1e-12  # measured 4.0e-16


def test_uniform_u_follows_the_logistic_ode():
    t = np.linspace(0.0, 1.0, 101)
    levels, rhos = np.array([0.01, 0.3, 0.9, 0.5]), np.array([10.0, 10.0, 1.0, 5.0])
    u0 = np.repeat(levels[:, None], 16, axis=1)
    u = solve_reaction_diffusion(u0, 0.5, rhos, t)
    exact = np.stack([logistic(c, r, t) for c, r in zip(levels, rhos, strict=True)])
    assert np.abs(u - exact[:, :, None]).max() / exact.max() < 1e-6  # measured 3.7e-7


@pytest.mark.parametrize(("nu", "rho"), [(0.5, 10.0), (1e-3, 10.0)])
def test_reaction_diffusion_self_convergence_on_pdebench_data(nu, rho):
    t = np.linspace(0.0, 1.0, 51)
    u0 = init_multi(_grid(1024), 6, np.random.default_rng(7), InitMulti(normalize=True))
    coarse = solve_reaction_diffusion(u0[:, 1::2], nu, rho, t)  # the odd points: 512 centres
    fine_x = solve_reaction_diffusion(u0, nu, rho, t)[:, :, 1::2]
    half_dt = solve_reaction_diffusion(u0[:, 1::2], nu, rho, t, step_factor=0.5)
    per_time = np.linalg.norm(coarse - half_dt, axis=(0, 2)) / np.linalg.norm(half_dt, axis=(0, 2))
    assert per_time.max() < 1e-6  # halving the step; measured 4.9e-7 (nu 0.5), 4.4e-7 (1e-3)
    assert _rel(coarse, fine_x) < 1e-9  # doubling the grid; measured 2.5e-17, 1.9e-16
    assert coarse.min() > -1e-6 and coarse.max() < 1 + 1e-6  # maximum principle: u in [0, 1]


def test_reaction_diffusion_initial_conditions_span_zero_to_one():
    rd = get_pde("reaction_diffusion")
    u0 = rd.initial_conditions(np.random.default_rng(0), 50, GRID, rd.spec_type())
    np.testing.assert_allclose(u0.min(axis=1), 0.0, atol=1e-15)
    np.testing.assert_allclose(u0.max(axis=1), 1.0, atol=1e-15)


def test_reaction_diffusion_per_trajectory_coefficients():
    rd = get_pde("reaction_diffusion")
    spec = rd.spec_type(nu=LogUniform(log_uniform=(0.01, 1.0)), rho=[1.0, 5.0, 10.0])
    rng = np.random.default_rng(8)
    u0, coeffs = rd.initial_conditions(rng, 4, GRID, spec), rd.draw_coefficients(rng, 4, spec)
    together = rd.solve(u0, coeffs, GRID, spec)
    alone = np.concatenate(
        [rd.solve(u0[i : i + 1], coeffs[i : i + 1], GRID, spec) for i in range(4)]
    )
    # the batch steps like its most demanding row: a finer step for the others
    assert _rel(together, alone) < 1e-6  # measured 6.2e-8
    np.testing.assert_array_equal(np.sort(rd.batch_order(u0, coeffs, spec)), np.arange(4))
