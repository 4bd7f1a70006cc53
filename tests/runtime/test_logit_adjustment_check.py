"""tools/logit_adjustment_check.py: the bias fit finds a class that is systematically under-scored."""

import numpy as np
from fakes.tool_module import load_tool


def test_fit_bias_lifts_an_under_scored_class_without_losing_accuracy():
    tool = load_tool("logit_adjustment_check")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 8, 2000)
    logits = rng.normal(0, 1, (2000, 8))
    logits[np.arange(2000), labels] += 3.0
    logits[:, 6] -= 2.5  # "fear" scored too low: its images go elsewhere
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    bias = tool.fit_bias(logp, labels)
    assert bias[6] > 1.0
    before = tool._scores(logp, labels, np.zeros(8))
    after = tool._scores(logp, labels, bias)
    assert after[1] > before[1] + 0.05 and after[0] >= before[0] - 0.002
    assert after[2]["fear"] > before[2]["fear"] + 0.3
