"""`tagf agree`: does a rerun of a study agree with the committed results (its verdicts, and its differences
within sampling error)? One line per comparison, then agree (exit 0) or disagree (exit 9)."""

from __future__ import annotations

import argparse


def _agree(args: argparse.Namespace) -> None:
    import json

    from tagf import storage
    from tagf.errors import DataError, Disagreement
    from tagf.study.agreement import agreement

    found = []
    for url in (args.rerun, args.committed):
        try:
            found.append(json.loads(storage.read_text(url)))
        except ValueError:
            raise DataError(f"{url}: not a study summary (ablation.json)") from None
    checks = agreement(*found)
    for check in checks:
        print(check.said)
    against = sum(not c.agrees for c in checks)
    if against:
        first = next(c for c in checks if not c.agrees)
        raise Disagreement(
            f"{against} of {len(checks)} comparisons disagree with {args.committed}, first {first.comparison}"
        )
    print(f"agree: all {len(checks)} comparisons of {args.rerun} agree with {args.committed}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "agree", help="does a rerun's ablation.json agree with the committed one (verdicts, differences)?"
    )
    p.add_argument("rerun", help="the rerun's ablation.json (e.g. results/ablation/ablation.json)")
    p.add_argument("committed", help="the committed ablation.json to hold it against")
    p.set_defaults(run=_agree)
