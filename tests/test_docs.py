"""The docs match the code: every documented `unisim ...` command exists with its options.

Commands are taken from fenced and indented code blocks and from inline code spans of
README.md, docs/PIPELINE_ARCHITECTURE.md and the folder READMEs. Each one's
subcommand path must answer `--help` (exit 0) and each option it uses must exist on
that command. Read-only commands whose files exist are also run for real against a
copy of the repository's configs and a tmp store. Also: benchmarks/run_all.py writes
its results table (with fake benchmark scripts).
"""

from __future__ import annotations

import functools
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

REPO = Path(__file__).resolve().parents[1]
ARCH = "docs/PIPELINE_ARCHITECTURE.md"
DOCS = [
    "README.md",
    ARCH,
    "experiments/README.md",
    "experiments-archive/README.md",
    "docker/README.md",
    "benchmarks/README.md",
]
_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE = re.compile(r"`((?:\S*/)?unisim [^`]+)`")
_PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_.]*$")  # CONFIG, RUN_A, S, DATE ...


def code_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of code: fenced blocks (not mermaid), indented blocks, inline spans."""
    out, fence, prev_blank = [], None, True
    for no, line in enumerate(text.splitlines(), 1):
        m = _FENCE.match(line)
        if m:
            if fence is None:
                fence = "mermaid" if "mermaid" in line else m[1]
            elif line.strip().startswith(fence if fence != "mermaid" else "```"):
                fence = None
            continue
        if fence is not None:
            if fence != "mermaid":
                out.append((no, line))
        elif line.startswith("    ") and (prev_blank or out and out[-1][0] == no - 1):
            out.append((no, line))
        else:
            out += [(no, span) for span in _INLINE.findall(line)]
        prev_blank = not line.strip()
    return out


def invocations(line: str) -> list[list[str]]:
    """The argument lists of every `unisim` invocation in one shell line."""
    line = line.replace("\\|", "/")  # an escaped pipe inside a markdown table cell
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: fall back to plain words
        tokens = line.split()
    found, seg = [], []
    for tok in [*tokens, ";"]:
        if tok and set(tok) <= set("|&;<>()"):
            words = list(seg)
            while words and re.match(r"^[A-Z_]+=", words[0]):  # FOO=bar unisim ...
                words.pop(0)
            if words[:3] in (["python", "-m", "unisim"], [".venv/bin/python", "-m", "unisim"]):
                words = ["unisim", *words[3:]]
            if words and (words[0] == "unisim" or words[0].endswith("/unisim")):
                found.append([w.strip("[]") for w in words[1:] if w.strip("[]")])
            seg = []
        else:
            seg.append(tok)
    return found


def collect() -> list[tuple[str, int, list[str]]]:
    """(doc, line, args) of every documented invocation, once per doc."""
    out = []
    for doc in DOCS:
        path = REPO / doc
        if not path.is_file():
            continue
        seen = set()
        for no, line in code_lines(path.read_text(encoding="utf-8")):
            for args in invocations(line):
                if tuple(args) not in seen:
                    seen.add(tuple(args))
                    out.append((doc, no, args))
    return out


@functools.cache
def root_command():
    from unisim.cli import app

    return typer.main.get_command(app)


def resolve(args: list[str]):
    """(command path, click command, remaining words) for ``unisim ARGS``; cmd None if unknown."""
    cmd, path = root_command(), []
    words = list(args)
    while words and not words[0].startswith("-"):
        subs = getattr(cmd, "commands", None)
        if not subs:
            break
        name = words[0].split("|")[0]  # `vast status|logs ID` documents several at once
        path.append(name)
        if name not in subs:
            return path, None, words[1:]
        cmd = subs[name]
        words.pop(0)
    return path, cmd, words


def option_names(cmd) -> set[str]:
    names = {"--help"}
    for param in cmd.params:
        if getattr(param, "param_type_name", None) == "option":
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


COMMANDS = collect()
BY_PATH: dict[str, list[tuple[str, int, list[str]]]] = {}  # "configs catalog" -> uses
for _doc, _no, _args in COMMANDS:
    _path, _cmd, _rest = resolve(_args)
    BY_PATH.setdefault(" ".join(_path), []).append((_doc, _no, _args))


def test_the_architecture_doc_and_readme_have_commands():
    docs = {doc for doc, _, _ in COMMANDS}
    assert ARCH in docs and "README.md" in docs
    assert len([c for c in COMMANDS if c[0] == ARCH]) >= 40


@pytest.mark.parametrize("path", sorted(BY_PATH), ids=lambda p: p or "(root)")
def test_documented_command_exists(path, cli):
    """The subcommand path answers --help, and every option each documented line uses exists."""
    uses = BY_PATH[path]
    doc, no, args = uses[0]
    words, cmd, rest = resolve(args)
    assert cmd is not None, f"{doc}:{no}: unisim {path}: no such command"
    code, out, err = cli(*words, "--help")
    assert code == 0 and "Usage" in out, f"{doc}:{no}: unisim {path} --help -> {code}: {err}"
    known = option_names(cmd) | ({"--version"} if not words else set())
    for doc, no, args in uses:
        for word in resolve(args)[2]:
            if re.match(r"^--?[A-Za-z]", word):
                name = word.split("=", 1)[0]
                assert name in known, f"{doc}:{no}: unisim {path} has no option {name}"


# Read-only commands a test can run for real (in a copy of configs/ and experiments/).
RUNNABLE = {
    (),
    ("configs", "validate"),
    ("configs", "schema"),
    ("configs", "catalog"),
    ("configs", "diff"),
    ("experiments", "list"),
    ("runs", "list"),
    ("registry", "list"),
    ("leaderboard",),
}


def _runnable(args: list[str]) -> bool:
    path, cmd, rest = resolve(args)
    if cmd is None or tuple(path) not in RUNNABLE:
        return False
    if any(w in ("--profile", "--tracking-uri") for w in rest):
        return False
    if path == ["runs", "list"] and any(not w.startswith("-") for w in rest):
        return False  # names an experiment the tmp store does not have
    files = [w for w in rest if w.endswith((".yaml", ".yml")) and not w.startswith("-")]
    return all((REPO / f).is_file() for f in files)


RUN = [
    (doc, no, args)
    for doc, no, args in COMMANDS
    if args and not any(_PLACEHOLDER.match(w) or "..." in w for w in args) and _runnable(args)
]


@pytest.mark.parametrize("doc,line,args", RUN, ids=[f"{d}:{n}" for d, n, _ in RUN])
def test_documented_read_only_command_runs(doc, line, args, cli, store, tmp_path):
    for folder in ("configs", "experiments", "experiments-archive", "mlruns-config"):
        if (REPO / folder).is_dir():
            shutil.copytree(REPO / folder, tmp_path / folder, dirs_exist_ok=True)
    code, _, err = cli(*args)
    assert code == 0, f"{doc}:{line}: unisim {' '.join(args)} -> {code}: {err}"


def test_every_command_and_module_is_documented():
    text = (REPO / ARCH).read_text(encoding="utf-8")

    def leaves(cmd, path):
        subs = getattr(cmd, "commands", None)
        if not subs:
            yield path
            return
        for name, sub in subs.items():
            yield from leaves(sub, [*path, name])

    documented = {tuple(resolve(args)[0]) for doc, _, args in COMMANDS if doc == ARCH}
    assert all(cmd is not None for cmd in (resolve(a)[1] for _, _, a in COMMANDS))
    missing = [" ".join(p) for p in leaves(root_command(), []) if tuple(p) not in documented]
    assert not missing, f"{ARCH} does not show: {missing}"
    for entry in sorted((REPO / "unisim").iterdir()):
        if entry.name.startswith("_") or entry.name in ("__pycache__",):
            continue
        if entry.suffix == ".py" or (entry / "__init__.py").is_file():
            name = f"unisim/{entry.name}" + ("/" if entry.is_dir() else "")
            assert name in text, f"{ARCH} does not describe {name}"
    for script in (
        "run_fast_to_sota.py",
        "train.py",
        "evaluate.py",
        "vast_launch.py",
        "archive_experiments.py",
        "promote_config.py",
        "config_catalog.py",
        "monitor_instance.sh",
    ):
        assert f"`{script}`" in text, f"the migration guide misses {script}"
    assert re.search(r"```mermaid\n(flowchart|graph) ", text), "no mermaid diagram"
    for heading in ("Run and tag schema", "Lifecycle rules", "Set-ups", "Migration", "FAQ"):
        assert re.search(rf"^## {heading}", text, re.MULTILINE), heading


def test_relative_links_resolve():
    for doc in DOCS:
        path = REPO / doc
        if not path.is_file():
            continue
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text("utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            assert (path.parent / target).exists(), f"{doc}: broken link {target}"


def test_the_extractor_reads_shell_lines():
    assert invocations("unisim run c.yaml --set a=1  # comment") == [
        ["run", "c.yaml", "--set", "a=1"]
    ]
    assert invocations("0 6 * * 1  cd /x && .venv/bin/unisim experiments archive >> log 2>&1") == [
        ["experiments", "archive"]
    ]
    assert invocations("unisim runs list [EXPERIMENT] [--kind pipeline]") == [
        ["runs", "list", "EXPERIMENT", "--kind", "pipeline"]
    ]
    assert invocations("export X=1; make run") == []
    text = "```bash\nunisim ui\n```\n\n    unisim sync\n\nsee `unisim runs open RUN`\n"
    assert [line for _, line in code_lines(text)] == [
        "unisim ui",
        "    unisim sync",
        "unisim runs open RUN",
    ]


# ---------------------------------------------------------------- benchmarks/run_all.py

FAKE_SOLVER = """\
import sys
quick = "--quick" in sys.argv
print("machine: 2 cpus")
print(f"  speedup {'30.5' if quick else '41.0'}x at 12x smaller max error (goal: met)")
"""
FAKE_NEW = "print('unisim / library FNO rollout nRMSE ratio 0.71 (goal <= 0.8)')\n"


def _run_all(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run_all.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_run_all_writes_one_results_table(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "solver.py").write_text(FAKE_SOLVER)
    (bench / "newbench.py").write_text(FAKE_NEW)
    (bench / "broken.py").write_text("import sys\nprint('partial')\nsys.exit(3)\n")
    out = tmp_path / "RESULTS.md"

    proc = _run_all("--dir", str(bench), "--out", str(out))
    assert proc.returncode == 1, proc.stderr  # broken.py failed; the others still ran
    text = out.read_text()
    for heading in ("## Machine", "## Headline figures", "## Runs", "## Output"):
        assert heading in text
    assert re.search(r"\| cpu \| .+ \|", text) and "| python |" in text and "torch" in text
    assert "| solver | ETDRK4 solver vs FD2 + BDF reference, trajectories/s | 41.0x faster" in text
    assert "| newbench |  | unisim / library FNO rollout nRMSE ratio 0.71 (goal <= 0.8) |" in text
    assert "| broken | failed |" in text and "partial" in text
    assert not list(tmp_path.glob(".tmp-*"))  # written atomically

    # --only refreshes one script and keeps the others' latest figures
    (bench / "broken.py").write_text("print('fixed now: 2.0x faster (goal >= 1x)')\n")
    proc = _run_all("--dir", str(bench), "--out", str(out), "--only", "broken")
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "| broken | ok |" in text and "41.0x faster" in text and "ratio 0.71" in text

    # --quick passes the small-size options; unknown --only is exit 2
    proc = _run_all("--dir", str(bench), "--quick", "--only", "solver", "--out", str(out) + "q")
    assert proc.returncode == 0 and "30.5x faster" in Path(str(out) + "q").read_text()
    assert "`--quick`" in Path(str(out) + "q").read_text()
    assert _run_all("--dir", str(bench), "--only", "nope").returncode == 2


def test_run_all_args_and_concurrent_only_runs_keep_each_others_figures(tmp_path):
    """``--args NAME=ARGS`` replaces a script's defaults (and shows in the runs table); a
    second ``run_all --only`` finishing while the first runs keeps its row."""
    bench = tmp_path / "bench"
    bench.mkdir()
    out = tmp_path / "RESULTS.md"
    (bench / "echo.py").write_text("import sys\nprint('echo got', ' '.join(sys.argv[1:]))\n")
    (bench / "outer.py").write_text(
        "import subprocess, sys\n"
        f"subprocess.run([sys.executable, {str(REPO / 'benchmarks' / 'run_all.py')!r},"
        f" '--dir', {str(bench)!r}, '--out', {str(out)!r}, '--only', 'echo',"
        " '--args', 'echo=--alpha 1'], check=True)\n"
        "print('outer done')\n"
    )
    proc = _run_all("--dir", str(bench), "--out", str(out), "--only", "outer")
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "| outer | ok |" in text and "outer done" in text
    assert "| echo | ok |" in text and "echo got --alpha 1" in text and "`--alpha 1`" in text
    assert _run_all("--dir", str(bench), "--args", "echo").returncode == 2


def _bench(name: str):
    """benchmarks/NAME.py as a module (the folder is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_all_reads_the_suite_table_as_written(tmp_path):
    """The suite's table (unisim/pipeline/suite.py) parsed into headline rows: the test
    figures of every row, and the held-out verdict where a config has held-out coefficients."""
    from unisim.pipeline.suite import table_markdown

    run_all = _bench("run_all")
    common = {"ratio_to_persistence": 0.5, "wall_s": 75.5, "gates": "passed"}
    rows = [
        {"pde": "burgers", "coefficients": "nu=0.01", "model": "fno", "final_nrmse": 0.05,
         **common},
        {"pde": "burgers", "coefficients": "nu={0.01,0.04}", "model": "latent", "final_nrmse": 0.04,
         "ratio_to_fno": 0.8, **common, "heldout": "0.07 / 0.08"},
        {"pde": "burgers", "coefficients": "nu={0.01,0.04}", "model": "fno", "final_nrmse": 0.05,
         **common, "gates": "failed: final_nrmse", "heldout": "0.09 / 0.085"},
    ]  # fmt: skip
    found = run_all.headlines("suite", "suite abc\n" + table_markdown(rows))
    values = [value for _, value, _ in found]
    assert values == [  # the test figures of each row, then the held-out verdicts
        "0.05, 0.5 / -, 75.5 s",
        "0.04, 0.5 / 0.8, 75.5 s",
        "0.05, 0.5 / -, 75.5 s",
        "0.07 / 0.08: met",
        "0.09 / 0.085: NOT met",
    ]


def test_run_all_reads_every_pruner_of_the_sweep_benchmark():
    """benchmarks/sweep.py prints a ratio and a best-value gap per pruner; run_all.py makes a
    headline row of each (a pruner missing from the headlines would hide a miss)."""
    run_all, sweep = _bench("run_all"), _bench("sweep")
    pruned = {"median": (388.1, 0.47), "hyperband": (338.8, 0.47), "asha": (250.0, 0.5)}
    text = sweep.report(16, (617.3, 0.47), pruned, 8, (327.6, 187.5))
    found = {label: value for label, value, _ in run_all.headlines("sweep", text)}
    assert found == {
        "sweep: median-pruned vs unpruned wall time, same trials": "0.63x",
        "sweep: best val nRMSE, median-pruned vs unpruned": "+0.0% (0.47 vs 0.47)",
        "sweep: hyperband-pruned vs unpruned wall time, same trials": "0.55x",
        "sweep: best val nRMSE, hyperband-pruned vs unpruned": "+0.0% (0.47 vs 0.47)",
        "sweep: asha-pruned vs unpruned wall time, same trials": "0.40x",
        "sweep: best val nRMSE, asha-pruned vs unpruned": "+6.4% (0.5 vs 0.47)",
        "sweep: two local workers vs one, fixed trials": "0.57x (8 trials)",
    }


def test_golden_benchmark_verdicts_and_their_headline_rows(capsys):
    """benchmarks/golden.py judges golden / hand-tuned by the paired interval (a ratio
    below 1 whose interval crosses 1 is "within noise", not a win), and run_all.py makes a
    headline row of each ratio and each config's figure."""
    import argparse

    import numpy as np

    run_all, golden = _bench("run_all"), _bench("golden")
    rng = np.random.default_rng(0)
    ref = rng.uniform(0.02, 0.04, size=(3, 32))
    rows = {
        "golden": {"test": (ref * 0.8).tolist(), "val": 0.03, "train_s": 110.0, "wall_s": 400.0,
                   "epochs": ["10", "10", "10"]},
        "hand-tuned": {"test": ref.tolist(), "val": 0.03, "train_s": 150.0, "wall_s": 500.0,
                       "epochs": ["7 (time_budget)", "10", "8 (time_budget)"]},
        "candidate": {"test": (ref * np.where(np.arange(32) % 2, 1.26, 0.7)).tolist(),
                      "val": 0.03, "train_s": 90.0, "wall_s": 300.0,
                      "epochs": ["10", "10", "10"]},  # mean 0.98x, wide spread
    }  # fmt: skip
    golden.report(rows, argparse.Namespace(seeds=[0, 1, 2], reference_label="hand-tuned"))
    text = capsys.readouterr().out
    found = {label: value for label, value, _ in run_all.headlines("golden", text)}
    ratio = "{} / hand-tuned Burgers config, test rollout nRMSE (same machine, data, seeds)"
    assert found[ratio.format("golden")].endswith(": beats it beyond noise")
    assert found[ratio.format("golden")].startswith("0.800 [")
    assert found[ratio.format("candidate")].endswith(": beats it, within noise")
    figure = "{}: test rollout nRMSE [95% interval] (per-seed means)"
    per_seed = ", ".join(f"{v:.4f}" for v in ref.mean(axis=1))
    assert found[figure.format("hand-tuned")].endswith(
        f"({per_seed}); epochs 7 (time_budget), 10, 8 (time_budget)"
    )  # a seed cut short by the time cap shows: its figure is the machine's as much as the config's
    assert found[figure.format("golden")].endswith("; epochs 10, 10, 10")
    assert set(found) == {ratio.format("golden"), ratio.format("candidate")} | {
        figure.format(label) for label in rows
    }
    rows["golden"]["test"] = (ref * 1.3).tolist()
    golden.report(rows, argparse.Namespace(seeds=[0, 1, 2], reference_label="hand-tuned"))
    found = {
        label: value for label, value, _ in run_all.headlines("golden", capsys.readouterr().out)
    }
    assert found[ratio.format("golden")].endswith(": does NOT beat it")

    # --reference FILE --reference-label NAME: another config in the hand-tuned one's place
    rows = {"golden": rows["golden"], "tuned-fno": rows["hand-tuned"]}
    golden.report(rows, argparse.Namespace(seeds=[0, 1, 2], reference_label="tuned-fno"))
    found = {
        label: value for label, value, _ in run_all.headlines("golden", capsys.readouterr().out)
    }
    to_fno = ratio.replace("hand-tuned", "tuned-fno")
    assert set(found) == {
        to_fno.format("golden"),
        figure.format("golden"),
        figure.format("tuned-fno"),
    }
    assert found[to_fno.format("golden")].startswith("1.300 [")
    for bad in (["--reference-label", "golden"], ["--reference", "no/such.yaml"]):
        with pytest.raises(SystemExit) as exc:
            golden.parse(bad)
        assert exc.value.code == 2


def test_golden_benchmark_reads_each_seeds_epochs_from_the_pipeline_summary():
    """golden.py's epochs column comes from a train stage as the pipeline's summary.json
    holds it (its info dropped, its detail kept): a seed the time cap cut short says so."""
    from unisim.pipeline.outcome import PipelineResult, StageOutcome
    from unisim.training.api import TrainResult

    golden = _bench("golden")

    def stage(epochs: int, why: str) -> dict:
        result = TrainResult("r", "0", 0.1, epochs, epochs, why, None, None, None, "h", "d", 1, 1.0)
        summary = PipelineResult(
            "p", "0", "e", "success", True, 0, 0.1, [StageOutcome.from_train(result)], []
        ).summary()
        return summary["stages"][0]

    assert golden.epochs_run(stage(7, "time_budget")) == "7 (time_budget)"
    assert golden.epochs_run(stage(10, "completed")) == "10"
    assert golden.epochs_run({"detail": ""}) == "?"


def test_golden_benchmark_reference_is_the_hand_tuned_config_on_the_golden_data():
    """benchmarks/handtuned_burgers.yaml holds the hand-tuned values (commit 5f87df6) and the
    golden's data, so golden.py's ratio pairs the same test trajectories."""
    from unisim.config import load_config

    golden = _bench("golden")
    ref, gold = load_config(golden.HAND_TUNED), load_config(golden.GOLDEN)
    assert ref.data == gold.data
    lat = ref.model.latent
    assert (lat.dim, lat.tokens, lat.processor, lat.width, lat.ffn, lat.layers, lat.hidden) == (
        16, 32, "fno", 64, 256, 2, 48,
    )  # fmt: skip
    t = ref.training
    assert (t.lr, t.weight_decay, t.rollout_steps, t.loss_recon, t.epochs, t.batch_size) == (
        2e-3, 1e-4, 4, 0.1, 10, 32,
    )  # fmt: skip


def test_the_suites_burgers_fno_is_the_fno_searched_alike(monkeypatch):
    """The suite's Burgers FNO row is benchmarks/fno_burgers_tuned.yaml (the FNO's search on
    the golden data), not an untuned default: the suite's overrides rebuild that file's model
    and training sections from the golden config."""
    from unisim.config import load_config
    from unisim.pipeline.suite import load_suite

    monkeypatch.chdir(REPO)  # the suite's paths are from the repo root
    (entry,) = [
        e for e in load_suite(REPO / "benchmarks" / "suite.yaml").configs
        if Path(e.config).name == "train_burgers_golden.yaml"
    ]  # fmt: skip
    built = load_config(REPO / entry.config, overrides=list(entry.fno))
    tuned = load_config(_bench("golden_vs_fno").TUNED_FNO)
    assert built.model == tuned.model and built.training == tuned.training
    assert built.data == tuned.data and built.evaluation == tuned.evaluation


def test_golden_reference_set_overrides_the_reference_only(monkeypatch, capsys):
    """``--reference-set KEY=VALUE`` (e.g. the FNO given the latent's training time) reaches
    the reference's ``unisim run`` only, after the common ``--set`` overrides."""
    golden = _bench("golden")
    commands = []
    monkeypatch.setattr(golden, "unisim", lambda argv, *rest: commands.append(argv))
    train = {"name": "train", "metrics": {}, "seconds": 1.0, "detail": "25 epochs (completed)"}
    monkeypatch.setattr(
        golden, "pipeline_result", lambda env, work: ({"stages": [train]}, [[0.02, 0.03]] * 2)
    )
    argv = [
        "--golden", str(REPO / "configs" / "train_advection_golden.yaml"),
        "--reference", str(REPO / "benchmarks" / "fno_burgers_tuned.yaml"),
        "--reference-label", "fno",
        "--seeds", "0,1", "--set", "data.n_test=8", "--reference-set", "training.epochs=25",
    ]  # fmt: skip
    assert golden.main(argv) == 0
    gold, ref = commands
    assert gold[-2:] == ["--set", "data.n_test=8"]
    assert ref[-4:] == ["--set", "data.n_test=8", "--set", "training.epochs=25"]
    out = capsys.readouterr().out
    assert "fno_burgers_tuned.yaml with training.epochs=25 seeds [0, 1]" in out
    assert "ratio golden / fno on test: 1.000" in out


def test_advection_vs_fno_runs_golden_py_on_the_advection_pair(monkeypatch, capsys):
    """benchmarks/advection_vs_fno.py hands golden.py the advection golden and, as its
    reference, the same config with the suite's advection FNO overrides (the FNO searched
    alike, not the suite's untuned default) plus the equal-time epochs, keeping the caller's
    options; run_all names its headline rows for advection."""
    import argparse

    from unisim.config import load_config

    vs_fno, run_all = _bench("advection_vs_fno"), _bench("run_all")
    overrides = vs_fno.fno_overrides()
    assert "model.name=fno" in overrides and "model.fno.width=32" not in overrides
    tuned = load_config(vs_fno.GOLDEN, overrides=[*overrides, vs_fno.EQUAL_TIME])
    assert tuned.model.name == "fno" and tuned.training.epochs == 25
    seen = []
    monkeypatch.setattr(vs_fno.golden, "main", lambda argv: seen.append(argv) or 0)
    assert vs_fno.main(["--quick"]) == 0
    assert vs_fno.main(["--seeds", "0"]) == 0

    def reference(sets):
        return [a for s in sets for a in ("--reference-set", s)]

    head = ["--golden", str(vs_fno.GOLDEN), "--reference", str(vs_fno.GOLDEN),
            "--reference-label", "tuned-fno"]  # fmt: skip
    assert seen == [
        [*head, *reference(overrides), "--quick", "--set", "data.nx=128"],  # smoke: same epochs
        [*head, *reference([*overrides, "training.epochs=25"]), "--seeds", "0"],
    ]
    rows = {
        label: {"test": [[0.02 * f, 0.03 * f]] * 3, "val": 0.02, "train_s": 1.0, "wall_s": 2.0,
                "epochs": ["10"] * 3}
        for label, f in (("golden", 0.5), ("tuned-fno", 1.0))
    }  # fmt: skip
    vs_fno.golden.report(rows, argparse.Namespace(seeds=[0, 1, 2], reference_label="tuned-fno"))
    found = dict(
        (k, v) for k, v, _ in run_all.headlines("advection_vs_fno", capsys.readouterr().out)
    )
    key = "golden / tuned-fno advection config, test rollout nRMSE (same machine, data, seeds)"
    assert found[key].startswith("0.500 [")


def test_golden_vs_fno_compares_with_the_fno_searched_alike_on_the_golden_data(monkeypatch):
    """benchmarks/fno_burgers_tuned.yaml is the FNO's sweep-best on the golden's data and
    training settings (only the searched keys differ), and golden_vs_fno.py hands it to
    golden.py as the reference, keeping the caller's options."""
    from unisim.config import load_config

    vs_fno = _bench("golden_vs_fno")
    fno, gold = load_config(vs_fno.TUNED_FNO), load_config(_bench("golden").GOLDEN)
    assert fno.data == gold.data and fno.evaluation == gold.evaluation
    assert (fno.model.name, fno.model.fno.modes, fno.model.fno.width, fno.model.fno.layers) == (
        "fno", 20, 64, 5,
    )  # fmt: skip
    same = ("epochs", "batch_size", "schedule", "grad_clip", "max_time_s", "loss_rollout")
    assert all(getattr(fno.training, k) == getattr(gold.training, k) for k in same)
    seen = []
    monkeypatch.setattr(vs_fno.golden, "main", lambda argv: seen.append(argv) or 0)
    assert vs_fno.main(["--quick"]) == 0
    assert seen == [
        ["--reference", str(vs_fno.TUNED_FNO), "--reference-label", "tuned-fno", "--quick"]
    ]
