"""The advection golden latent vs unisim's FNO searched alike on the same data: same seeds.

    .venv/bin/python benchmarks/advection_vs_fno.py          # 2 configs x 3 seeds (~25 min)
    .venv/bin/python benchmarks/advection_vs_fno.py --quick  # tiny, equal epochs: a smoke run

``benchmarks/golden.py`` with ``--golden configs/train_advection_golden.yaml``, and as the
reference the same config with the suite's FNO overrides (benchmarks/suite.yaml: the winner
of the same search the latent had, 16 trials x 60 s, validation only; one source, so the
suite's FNO row and this one cannot drift apart), given about the latent's training time:
25 epochs instead of the config's 10 (on 2 cores ~10.6 s per FNO epoch vs ~24 s per latent
epoch; the train s/seed column shows what each got). The suite measures this pair once at
equal epochs; this script gives it equal time, seeds and intervals. Reported: both configs'
test rollout nRMSE over seeds with 95% bootstrap intervals and golden / tuned-fno with a
paired interval. Goal (issue 18): the golden latent beats its FNO baseline (ratio < 1;
beyond noise when the interval's upper end is below 1 too).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import golden  # noqa: E402

GOLDEN = HERE.parent / "configs" / "train_advection_golden.yaml"
SUITE = HERE / "suite.yaml"
EQUAL_TIME = "training.epochs=25"  # ~ the latent's training time


def fno_overrides() -> list[str]:
    """The suite's FNO overrides for the advection golden (its FNO searched alike)."""
    import yaml

    from unisim.pipeline.suite import SuiteConfig

    suite = SuiteConfig.model_validate(yaml.safe_load(SUITE.read_text(encoding="utf-8")))
    (entry,) = [e for e in suite.configs if Path(e.config).name == GOLDEN.name]
    return list(entry.fno)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    sets = fno_overrides()
    if "--quick" in args:  # the golden's 128 tokens and 65 linear modes need the 128-point grid
        args += ["--set", "data.nx=128"]  # and both keep the smoke run's epochs
    else:
        sets.append(EQUAL_TIME)
    reference = [a for s in sets for a in ("--reference-set", s)]
    return golden.main(
        ["--golden", str(GOLDEN), "--reference", str(GOLDEN), "--reference-label", "tuned-fno",
         *reference, *args]
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
