"""The model registry: every registered model honours the surrogate contract.

One parametrised test over every (model, PDE) pair checks output shapes, that the
conditioning vector reaches the prediction, a gradient step that reaches every weight,
and that saving and loading the weights gives the same outputs. The rest
pins what is specific to each model (latent pieces, persistence identity) and
the config checks that guard the architectures.
"""

from __future__ import annotations

import math
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from unisim.config import MODEL_NAMES, build_config
from unisim.errors import ConfigError
from unisim.models import (
    MODEL_REGISTRY,
    build_model,
    count_parameters,
    load_architectures,
    rollout,
)

NX, CONTEXT, BATCH = 32, 2, 3
TINY = {
    "latent": {"tokens": 8, "dim": 8, "hidden": 16, "heads": 2},
    "fno": {"modes": 8, "width": 8, "layers": 2},
    "neuralop_fno": {"modes": 8, "width": 8, "layers": 2},
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Two threads on a shared, busy 2-core box spin-wait: one is ~10x faster here."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# one spec per registered PDE, coefficients drawn from a set (K = number of coefficients)
PDE_SPECS = {
    "burgers": {"name": "burgers", "nu": [0.05, 0.2]},
    "advection": {"name": "advection", "beta": [0.5, 2.0]},
    "reaction_diffusion": {"name": "reaction_diffusion", "nu": [0.5, 1.0], "rho": [1.0, 5.0]},
}


def tiny_cfg(name: str, equation: dict | None = None, **model):
    own = {name: TINY[name]} if name in TINY else {}  # only the architecture's own section
    data = {"nx": NX, "solver_nx": 256, "nt": 11}
    if equation is not None:
        data["equation"] = equation
    return build_config({"data": data, "model": {"name": name, "context": CONTEXT, **own, **model}})


def test_every_registered_pde_has_a_contract_spec():
    from unisim.pdes import pde_names

    assert set(PDE_SPECS) == set(pde_names())


def _load_builtins() -> None:
    build_model(tiny_cfg("persistence"))  # importing the builders fills the registry


def test_registry_holds_every_config_model_name():
    _load_builtins()
    assert set(MODEL_REGISTRY) == set(MODEL_NAMES)


def _latent(processor: str, latent: dict | None = None, **extra) -> tuple[str, dict]:
    lat = {**TINY["latent"], "processor": processor, "width": 12, **(latent or {})}
    return "latent", {"latent": lat, **extra}


CONTRACT_CASES = {
    **{name: (name, {}) for name in load_architectures()},  # every registered architecture
    "latent-fno": _latent("fno"),
    "latent-mlp": _latent("mlp"),
    "latent-fno-no-cond": _latent("fno", condition=False),
    "latent-mlp-no-cond": _latent("mlp", condition=False),
    "latent-fno-linear": _latent("fno", {"linear_modes": 6}),
    "latent-fno-linear-no-cond": _latent("fno", {"linear_modes": NX // 2 + 1}, condition=False),
}
PAIRS = {
    f"{case}-{pde}": (name, extra, pde)
    for case, (name, extra) in CONTRACT_CASES.items()
    for pde in PDE_SPECS
}


@pytest.mark.parametrize(("name", "extra", "pde"), PAIRS.values(), ids=PAIRS.keys())
def test_model_contract(name, extra, pde, tmp_path):
    import numpy as np

    from unisim.pdes import get_pde

    torch.manual_seed(0)
    cfg = tiny_cfg(name, PDE_SPECS[pde], **extra)
    model = build_model(cfg)
    u = torch.randn(BATCH, CONTEXT, NX)
    plugin = get_pde(pde)
    k = len(plugin.coefficients)
    # the conditioning vector of BATCH trajectories, normalised by the PDE spec: (B, K)
    low = np.array([[c.low for c in plugin.coefficients]] * BATCH)
    high = np.array([[c.high for c in plugin.coefficients]] * BATCH)
    cond_a = torch.as_tensor(plugin.conditioning(low))
    cond_b = torch.as_tensor(plugin.conditioning(high))
    assert cond_a.shape == (BATCH, k)

    # shapes: one step, an explicit conditioning vector, and an autoregressive rollout
    assert model(u).shape == (BATCH, NX)
    assert model(u, cond_a).shape == (BATCH, NX)
    assert rollout(model, u, 4, cond_a).shape == (BATCH, 4, NX)
    default = torch.as_tensor(plugin.default_conditioning(cfg.data.equation)).expand(BATCH, k)
    assert torch.equal(model(u), model(u, default))  # None means the config's default

    # conditioning reaches the prediction (once off the zero-initialised start)
    conditioned = name != "persistence" and extra.get("condition", True)
    if conditioned:
        probe = build_model(cfg)
        for p in probe.parameters():
            torch.nn.init.normal_(p, std=0.3)
        with torch.no_grad():
            assert not torch.allclose(probe(u, cond_a), probe(u, cond_b))

    # gradient steps reach every trainable weight (no weight decay, so only gradients move
    # them); the latent model's zero-initialised residual branch opens on the first step,
    # so two steps are needed before every weight has had a gradient
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "persistence":
        assert params == [] and count_parameters(model) == 0
    else:
        before = [p.detach().clone() for p in params]
        opt = torch.optim.Adam(params, lr=1e-2)
        target = torch.randn(BATCH, NX)
        for _ in range(2):
            opt.zero_grad()
            loss = torch.mean((model(u, cond_a) - target) ** 2)
            loss.backward()
            assert torch.isfinite(loss)
            assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)
            opt.step()
        frozen = [
            i for i, (b, p) in enumerate(zip(before, params, strict=True)) if torch.equal(b, p)
        ]
        assert frozen == []

    # save and load: a fresh model with the loaded weights gives the same outputs
    model.eval()
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    torch.manual_seed(123)  # different init, so equality comes from the loaded weights
    fresh = build_model(cfg)
    fresh.load_state_dict(torch.load(path, weights_only=True))
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh(u, cond_b), model(u, cond_b))


def test_persistence_returns_the_last_frame_as_a_copy():
    model = build_model(tiny_cfg("persistence"))
    u = torch.randn(BATCH, CONTEXT, NX)
    out = model(u)
    assert torch.equal(out, u[:, -1])
    out += 1  # a copy: the caller's input is untouched
    assert not torch.equal(out, u[:, -1])


@pytest.mark.parametrize(
    ("processor", "width"),
    [("transformer", None), ("transformer", 12), ("fno", None), ("fno", 12), ("mlp", None)],
)
def test_latent_encodes_to_tokens_and_decodes_back(processor, width):
    torch.manual_seed(0)
    lat = {**TINY["latent"], "processor": processor, "width": width}
    model = build_model(tiny_cfg("latent", latent=lat))
    u = torch.randn(BATCH, CONTEXT, NX)
    z = model.encode(u)
    assert z.shape == (BATCH, 8, 8)  # (B, tokens, dim)
    assert model.process(z).shape == z.shape
    assert model.decode(z).shape == (BATCH, NX)  # the latent state stays (tokens, dim) ...
    if width:  # ... while the processor runs its tokens at `width` channels
        assert model.processor.lift.out_features == width
    assert model.reconstruct(u).shape == (BATCH, NX)
    # a fresh model starts at persistence: the residual branch is zero-initialised
    assert torch.allclose(model(u), u[:, -1], atol=1e-6)


def test_latent_linear_path_can_hold_the_exact_advection_step():
    """With every mode and the exact phase shifts as its multipliers, the linear spectral path
    alone (the latent branch starts at zero) is the exact one-step map of linear advection."""
    import numpy as np

    from unisim.pdes.advection import shift_spectral

    torch.manual_seed(0)
    lat = {**TINY["latent"], "processor": "fno", "linear_modes": NX // 2 + 1}
    model = build_model(tiny_cfg("latent", latent=lat, condition=False))
    beta, dt = 0.4, 0.05
    j = np.arange(NX // 2 + 1)
    mult = np.exp(-2j * np.pi * j * beta * dt) - 1.0  # (shifted - current) per mode
    with torch.no_grad():
        model.linear.weight[0] = torch.as_tensor(np.stack([mult.real, mult.imag], -1))
    u = torch.randn(BATCH, CONTEXT, NX)
    exact = shift_spectral(u[:, -1].double().numpy(), beta, np.array([0.0, dt]))[:, 1]
    with torch.no_grad():
        torch.testing.assert_close(model(u), torch.as_tensor(exact, dtype=torch.float32))
        assert not torch.allclose(model(u), u[:, -1], atol=1e-2)  # it did move the profile


def test_latent_models_saved_before_width_existed_still_load():
    """Registered champions are pickled modules: code without `width` wrote them."""
    torch.manual_seed(0)
    model = build_model(tiny_cfg("latent"))  # transformer, width = dim: no lift weights
    assert not any(k.startswith("processor.lift") for k in model.state_dict())
    for p in model.parameters():  # move off the zero-initialised (persistence) start
        torch.nn.init.normal_(p, std=0.3)
    u = torch.randn(BATCH, CONTEXT, NX)
    expected = model(u)
    # the older class had no processor.lift (and kept a `dim` attribute)
    del model.processor._modules["lift"]
    model.__dict__["dim"] = 8
    loaded = pickle.loads(pickle.dumps(model))
    assert torch.equal(loaded(u), expected)


@pytest.mark.parametrize("name", ["latent", "fno", "neuralop_fno"])
def test_viscosity_conditioning_changes_the_prediction(name):
    from unisim.pdes import get_pde

    torch.manual_seed(0)
    model = build_model(tiny_cfg(name))
    for p in model.parameters():  # move off the zero-initialised (persistence) start
        torch.nn.init.normal_(p, std=0.3)
    u = torch.randn(BATCH, CONTEXT, NX)
    burgers = get_pde("burgers")
    a = model(u, torch.as_tensor(burgers.conditioning([[0.01]] * BATCH)))
    b = model(u, torch.as_tensor(burgers.conditioning([[0.1]] * BATCH)))
    assert not torch.allclose(a, b)
    assert torch.equal(model(u), a)  # cond=None means the config's nu (0.01)


def same_output(got: torch.Tensor, saved: torch.Tensor, case: str = "") -> None:
    """The output a pickled model gave when the fixture was written, up to float32 rounding:
    CPUs with other vector units (AVX2, AVX-512) sum in another order, so the same weights
    give outputs ~1e-5 apart (3e-5 at most on values up to 57, measured); a wrong class, a
    wrong input or a changed forward is off by O(1)."""
    torch.testing.assert_close(got, saved, rtol=1e-4, atol=1e-4, msg=lambda m: f"{case}: {m}")


def test_models_pickled_before_the_pde_seam_take_a_burgers_conditioning_vector():
    """A champion pickled with ``default_nu`` (trained on (log10 nu + 1.5) / 1.5) gets
    exactly that input whether evaluation passes nothing or Burgers' conditioning vector."""
    from unisim.pdes import get_pde

    saved = torch.load(FIXTURES / "pickled_models_016a120.pt", weights_only=False)
    model, u = saved["models"]["latent-fno"]["model"], saved["input"]
    cond = torch.as_tensor(get_pde("burgers").conditioning([[0.01]] * u.shape[0]))
    with torch.no_grad():
        same_output(model(u, cond), saved["models"]["latent-fno"]["output"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model": {"name": "unet"}}, "model.name"),
        ({"model": {"name": "latent", "latent": {"tokens": 5}}}, "model.latent.tokens=5"),
        ({"model": {"name": "latent", "latent": {"dim": 10, "heads": 4}}}, "heads=4"),
        (
            {"model": {"name": "latent", "latent": {"dim": 8, "width": 10, "heads": 4}}},
            "model.latent.width=10",
        ),
        ({"model": {"name": "fno", "fno": {"modes": 40}}}, "model.fno.modes=40"),
        (
            {"model": {"name": "latent", "latent": {"tokens": 8, "linear_modes": 18}}},
            "model.latent.linear_modes=18",
        ),
        ({"training": {"batch_size": 0}}, "training.batch_size"),
    ],
)
def test_bad_model_settings_fail_at_load_with_one_line(overrides, message):
    data = {"data": {"nx": 32, "solver_nx": 256, "nt": 11}}
    with pytest.raises(ConfigError) as exc:
        build_config({**data, **overrides})
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def test_models_pickled_before_the_networks_moved_still_load_and_predict_the_same():
    """Champions are pickled modules; commit 016a120 named their classes
    ``unisim.models.latent.LatentSurrogate``, ``unisim.models.fno.FNO1d``, ...
    (tests/fixtures/make_pickled_models.py wrote the file there)."""
    path = FIXTURES / "pickled_models_016a120.pt"
    with zipfile.ZipFile(path) as z:  # the file really holds the old class paths
        pkl = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    for old in (b"unisim.models.latent\nLatentSurrogate", b"unisim.models.fno\nFNO1d"):
        assert old in pkl
    saved = torch.load(path, weights_only=False)
    assert set(saved["models"]) == {
        "latent-transformer", "latent-fno", "latent-mlp", "fno", "persistence"
    }  # fmt: skip
    for case, entry in saved["models"].items():
        with torch.no_grad():
            same_output(entry["model"](saved["input"]), entry["output"], case)


TOY_SPEC = '''
"""A toy architecture: its config and builder, nothing else."""
from typing import Literal

from pydantic import Field

from unisim.config.base import ModelSpec, Section
from unisim.models import register


class ToyConfig(Section):
    scale: float = Field(1.0, gt=0)


class ToyModelConfig(ModelSpec):
    name: Literal["toy"] = "toy"
    toy: ToyConfig = ToyConfig()


@register(ToyModelConfig)
def build_toy(cfg):
    from toy_net import Toy  # the network module, imported by the builder only

    return Toy(cfg.model.toy.scale)
'''

TOY_NET = """
import torch


class Toy(torch.nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, u, nu=None):
        return self.scale * u[:, -1]
"""

TOY_RUN = """
import sys
import unisim.models
unisim.models.__path__.append(sys.argv[1])  # as if toy.py sat in unisim/models/
from unisim.config import MODEL_NAMES, flatten, load_config
from unisim.errors import ConfigError
cfg = load_config("toy.yaml")
print("names", list(MODEL_NAMES))
print("param", flatten(cfg)["model.toy.scale"])
print("torch before build", "torch" in sys.modules)
import torch
from unisim.models import build_model
print("output", build_model(cfg)(torch.ones(1, 1, 8)).tolist())
try:
    load_config("bad.yaml")
except ConfigError as exc:
    print("refused", exc)
"""


def test_a_new_architecture_is_one_spec_file_and_its_network(tmp_path):
    """No config code changes: discovery finds the module, the union takes its config."""
    (tmp_path / "arch").mkdir()
    (tmp_path / "arch" / "toy.py").write_text(TOY_SPEC)
    (tmp_path / "toy_net.py").write_text(TOY_NET)
    (tmp_path / "toy.yaml").write_text("model:\n  name: toy\n  toy: {scale: 2.0}\n")
    (tmp_path / "bad.yaml").write_text("model:\n  name: fno\n  toy: {scale: 2.0}\n")
    (tmp_path / "run.py").write_text(TOY_RUN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(tmp_path)])}
    out = subprocess.run(
        [sys.executable, "run.py", str(tmp_path / "arch")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:3] == [
        "names ['latent', 'fno', 'neuralop_fno', 'persistence', 'toy']",
        "param 2.0",
        "torch before build False",
    ]
    assert lines[3] == f"output {[[2.0] * 8]}"
    assert lines[4] == (
        "refused bad.yaml: model.toy: a section of model 'toy', but model.name is 'fno' "
        "(got {'scale': 2.0})"
    )


def test_a_checkpoint_from_before_the_pde_seam_loads_into_a_new_model():
    """State dicts with ``default_nu`` (weights trained on (log10 nu + 1.5) / 1.5)."""
    from unisim.pdes import get_pde

    torch.manual_seed(0)
    model = build_model(tiny_cfg("fno"))
    state = model.state_dict()
    state["default_nu"] = torch.tensor(0.01)
    del state["default_cond"]
    fresh = build_model(tiny_cfg("fno"))
    fresh.load_state_dict(state)
    u = torch.randn(BATCH, CONTEXT, NX)
    legacy = torch.full((BATCH, 1), (math.log10(0.01) + 1.5) / 1.5)
    assert torch.allclose(fresh.conditioning(u, None), legacy)
    cond = torch.as_tensor(get_pde("burgers").conditioning([[0.01]] * BATCH))
    assert torch.allclose(fresh.conditioning(u, cond), legacy, atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(fresh(u), fresh(u, cond), atol=1e-6)
