"""The evaluation stage: score a run's export, bless it against thresholds and the served model, publish it."""
