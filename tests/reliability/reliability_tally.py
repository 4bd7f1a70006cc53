"""Outcome tallies of the reliability suites (written to $FER_EDGE_RELIABILITY_REPORT by conftest.py)."""

import os
from collections import Counter, defaultdict

TALLY = defaultdict(Counter)  # target -> Counter(outcome)
TOTAL_FUZZ = int(os.environ.get("FER_EDGE_FUZZ_EXAMPLES", "2000"))


def record(target: str, outcome: str) -> None:
    TALLY[target][outcome] += 1


def budget(share: float) -> int:
    """This target's number of fuzz cases: ``share`` of the total budget (at least 20)."""
    return max(20, int(round(TOTAL_FUZZ * share)))
