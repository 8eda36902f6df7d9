"""Application layer: the Hydra app's configs, job, reports and callbacks."""
