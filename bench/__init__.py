"""The benchmark side: tasks, training and tuning, run storage, the ONNX-Bench store,
leaderboards, and the glue between stores and predictors (docs/architecture.md)."""
