"""Per-workload CPU and memory over time (sampler, storage, rollups) — see the metrics issue."""
