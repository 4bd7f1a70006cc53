"""Reliability suites: ``FER_EDGE_FUZZ_EXAMPLES`` sets the total fuzz cases (default ≈ 2,000 for CI; ``make fuzz``
runs 100,000); ``FER_EDGE_RELIABILITY_REPORT=path.json`` writes the outcome tallies (cases, typed errors) there."""

import json
import os

from reliability_tally import TALLY


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("FER_EDGE_RELIABILITY_REPORT")
    if path and TALLY:
        data = {}
        if os.path.exists(path):
            with open(path) as fh:
                data = json.load(fh)
        for target, counts in TALLY.items():
            data[target] = dict(sorted(counts.items()))
        with open(path, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
