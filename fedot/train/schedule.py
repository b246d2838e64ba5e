"""Learning-rate schedules as a pure function of the step: easy to test, same on any device."""

from __future__ import annotations

import bisect
import math

from fedot.train.config import TrainConfig


def lr_factor(step: int, total_steps: int, config: TrainConfig) -> float:
    """The multiplier of ``config.lr`` for optimizer step ``step`` (0-based) of ``total_steps``.

    Linear warm-up over the first ``round(warmup * total_steps)`` steps (from
    1/warmup_steps up to 1), then: ``constant`` 1; ``step`` ``gamma`` to the power of
    the milestones passed (as fractions of the run); ``cosine`` a half cosine from 1
    down to 0 at the last step's end.
    """
    warmup_steps = round(config.warmup * total_steps)
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if config.schedule == "constant":
        return 1.0
    if config.schedule == "step":
        passed = bisect.bisect_right([m * total_steps for m in config.milestones], step)
        return config.gamma**passed
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * progress))
