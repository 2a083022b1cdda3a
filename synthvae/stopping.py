"""When training stops: a smoothed held-out loss that has not improved for long enough.

A VAE's held-out loss often sits on a plateau for a few hundred optimiser steps while the
columns are still modelled one at a time, and drops again once the decoder learns how they
depend on each other (a table with ``y = 2x`` plus noise: flat from step ~60 to ~260, then
falling steeply; see docs/training.md). A patience counted in epochs is a few dozen steps on a
table of 1,000 rows, so it ends the fit on the plateau. :class:`EarlyStopping` counts in
optimiser steps, smooths the noisy loss of a small held-out set, and never stops before a
minimum number of steps.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

PATIENCE_STEPS = 600  # at least this many steps without improvement before stopping
MIN_STEPS = 1_000  # never stop before this many optimiser steps
SMOOTHING = 0.25  # weight of the newest held-out loss in the moving average
MIN_DELTA = 1e-4  # relative improvement of the average that counts as one


@dataclass
class EarlyStopping:
    """Stop once the moving average of the held-out loss has not improved for
    ``patience_steps`` optimiser steps, and not before ``min_steps`` steps."""

    patience_steps: int = PATIENCE_STEPS
    min_steps: int = MIN_STEPS
    smoothing: float = SMOOTHING
    min_delta: float = MIN_DELTA
    average: float | None = None  # moving average of the held-out loss (state)
    best: float = math.inf  # best moving average so far (state)
    best_step: int = 0  # step at which it was reached (state)

    @classmethod
    def for_table(cls, patience_epochs: int, steps_per_epoch: int) -> "EarlyStopping":
        """The user's patience in epochs, but never fewer than PATIENCE_STEPS steps."""
        return cls(patience_steps=max(PATIENCE_STEPS, patience_epochs * steps_per_epoch),
                   min_steps=MIN_STEPS, smoothing=SMOOTHING, min_delta=MIN_DELTA)

    def update(self, val_loss: float, step: int) -> bool:
        """Take the held-out loss after ``step`` optimiser steps; True when training should
        stop."""
        self.average = val_loss if self.average is None else \
            self.smoothing * val_loss + (1 - self.smoothing) * self.average
        scale = abs(self.best) if math.isfinite(self.best) else 1.0
        if self.average < self.best - self.min_delta * scale:
            self.best, self.best_step = self.average, step
        return step >= self.min_steps and step - self.best_step >= self.patience_steps

    def state_dict(self) -> dict:
        """Plain JSON state (a checkpoint's ``stopping`` entry); infinity as None."""
        state = asdict(self)
        state["best"] = self.best if math.isfinite(self.best) else None
        return state

    @classmethod
    def from_state_dict(cls, state: dict) -> "EarlyStopping":
        best = state.get("best")
        return cls(**dict(state, best=math.inf if best is None else float(best)))
