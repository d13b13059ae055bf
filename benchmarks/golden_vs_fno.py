"""The golden latent config vs unisim's FNO searched alike on the same data: same seeds.

    .venv/bin/python benchmarks/golden_vs_fno.py            # 2 configs x 3 seeds (~30 min, 2 cores)
    .venv/bin/python benchmarks/golden_vs_fno.py --quick    # tiny sizes: a smoke run

``benchmarks/golden.py`` with ``--reference benchmarks/fno_burgers_tuned.yaml
--reference-label tuned-fno``: the FNO's config is the winner of the same search that
found the golden (full-length trials, successive-halving pruning, validation nRMSE only,
the same number of trials; see that file's header for the command). Reported: both
configs' test rollout nRMSE over seeds with 95% bootstrap intervals and golden /
tuned-fno with a paired interval. Goal (issue 18): the golden latent beats its FNO
baseline (ratio < 1; beyond noise when the interval's upper end is below 1 too).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import golden  # noqa: E402

TUNED_FNO = HERE / "fno_burgers_tuned.yaml"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return golden.main(["--reference", str(TUNED_FNO), "--reference-label", "tuned-fno", *args])


if __name__ == "__main__":
    sys.exit(main())
