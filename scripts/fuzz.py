#!/usr/bin/env python3
"""Fuzz qdisclab's scenario files and command lines for tracebacks, hangs and bad exits.

    python scripts/fuzz.py --cases 2000            # the default seed, 30 s guard per case
    python scripts/fuzz.py --cases 200 --seed 7

Prints every failing case as it happens and a JSON summary at the end; exits 1
if any case broke the property (see tests/fuzz/runner.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.fuzz.runner import DEFAULT_GUARD_S, DEFAULT_SEED, OK, generate, run_all, summary  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--guard", type=float, default=DEFAULT_GUARD_S, help="seconds per case")
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once")
    args = parser.parse_args()
    cases = generate(args.cases, args.seed)
    outcomes = run_all(cases, args.guard, progress=True, jobs=args.jobs)
    print(json.dumps(summary(outcomes), indent=2))
    return 0 if all(o.verdict == OK for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
