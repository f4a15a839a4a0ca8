"""The benchmark side: tasks, training and tuning, run storage, the ONNX-Bench store,
leaderboards, baselines and the benchmark suites."""
