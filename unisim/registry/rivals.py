"""Is there a better run to promote? The leaderboard's view, before a champion is crowned.

    check, warning = rival_check(target, cand, final_nrmse, strict=False)
    run_id = leaderboard_best(target, "2026-11-29-64dim-latent")   # `promote --best EXP`

A promotion looks at the gates-passed pipeline runs of the candidate's protocol
(``unisim.protocol``; a run without the tag belongs to the ``unknown`` protocol, as on
the leaderboard): when one of them has a lower ``final_nrmse``, the promotion warns
(``--strict``: refuses) and names it. Runs of other protocols are not comparable and
are not mentioned.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from unisim import tracking as T
from unisim.display import num
from unisim.errors import CheckFailed, UnisimError
from unisim.registry.checks import Check

if TYPE_CHECKING:
    from unisim.registry.candidates import Candidate

DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}-")


def better_runs(
    target: T.TrackingTarget, run_id: str, protocol: str | None, final: float
) -> list[dict[str, Any]]:
    """Leaderboard rows of the same protocol with a lower final_nrmse, best first."""
    from unisim.reports.leaderboard import leaderboard_rows

    group = protocol or "unknown"
    return [
        row
        for row in leaderboard_rows(target)
        if row["protocol"] == group and row["run_id"] != run_id and row["final_nrmse"] < final
    ]


def rival_check(
    target: T.TrackingTarget, cand: Candidate, final: float | None, *, strict: bool
) -> tuple[Check | None, str | None]:
    """(a failing check under ``strict``, else None; the warning text, or None)."""
    if final is None:
        return None, None
    rivals = better_runs(target, cand.run_id, cand.tag(T.TAG_PROTOCOL), final)
    if not rivals:
        return None, None
    best = rivals[0]
    n = len(rivals)
    text = (
        f"{n} gates-passed run{'s' if n != 1 else ''} of the same protocol "
        f"({best['protocol']}) beat this run's final_nrmse {num(final)}: the best is run "
        f"{best['run_id']} of {best['experiment']} at {num(best['final_nrmse'])} "
        f"(unisim promote --best {best['experiment']})"
    )
    if strict:
        return Check("best_of_protocol", False, f"{text}; --strict refuses"), None
    return None, text


def leaderboard_best(target: T.TrackingTarget, experiment: str) -> str:
    """The run id of the experiment's first row on the leaderboard (``promote --best``)."""
    from unisim.reports.leaderboard import leaderboard_rows
    from unisim.tracking.views import experiment_names

    names = set(experiment_names(target).values())
    spec = experiment.rstrip("/").rsplit("/", 1)[-1]
    matches = [n for n in names if n == spec] or [
        n for n in names if DATE_PREFIX.match(n) and DATE_PREFIX.sub("", n) == spec
    ]
    if len(matches) != 1:
        found = "no" if not matches else f"{len(matches)}"
        raise UnisimError(f"--best {experiment}: {found} MLflow experiment matches that name")
    rows = [r for r in leaderboard_rows(target) if r["experiment"] == matches[0]]
    if not rows:
        raise CheckFailed(
            f"--best {experiment}: experiment {matches[0]!r} has no gates-passed pipeline run "
            f"with a final_nrmse on the leaderboard"
        )
    return str(rows[0]["run_id"])
