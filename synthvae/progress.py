"""A rich progress bar for training, showing the loss and KL of each epoch."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from synthvae.training import EpochStats


class EpochProgress:
    """Context manager; ``update(stats)`` advances one epoch. Silent when not ``enabled``."""

    def __init__(self, total_epochs: int, enabled: bool = True, description: str = "training"):
        self.total_epochs = total_epochs
        self.enabled = enabled
        self.description = description
        self._progress: Progress | None = None

    def __enter__(self) -> "EpochProgress":
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}  kl {task.fields[kl]}  "
                           "val {task.fields[val]}"),
                TimeElapsedColumn(), transient=False)
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total_epochs,
                                                 loss="-", kl="-", val="-")
        return self

    def update(self, stats: EpochStats) -> None:
        if self._progress is None:
            return
        val = "-" if stats.val_loss is None else f"{stats.val_loss:.3f}"
        self._progress.update(self._task, completed=stats.epoch, loss=f"{stats.loss:.3f}",
                              kl=f"{stats.kl:.3f}", val=val)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            task = self._progress.tasks[0]
            self._progress.update(self._task, total=task.completed)  # early stop: full bar
            self._progress.stop()
