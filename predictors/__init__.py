"""ONNX-Net: a text-based performance predictor that works on any ONNX file.

    from predictors import OnnxNetPredictor
    p = OnnxNetPredictor().fit(models, scores)   # models: ONNX paths or onnx.ModelProto
    p.predict(models); p.score(models, scores)   # scores; Kendall tau
    p.save(path); OnnxNetPredictor.load(path)

Modules: ``graph`` (ONNX -> plain graph view), ``text`` (graph -> text and back to
edges), ``features`` (structural numbers), ``encoders`` (text -> vector), ``regressors``,
``predictor`` (the estimator), ``metrics``, ``proxies`` (zero-cost proxies, needs torch),
``evaluate`` (the in-space / by-grammar figures).
"""

from predictors.graph import GraphView, load_graph
from predictors.metrics import kendall_tau, mae, spearman
from predictors.predictor import NotFittedError, OnnxNetPredictor
from predictors.text import onnx_to_text, parse_edges

__all__ = [
    "GraphView", "NotFittedError", "OnnxNetPredictor", "kendall_tau", "load_graph", "mae",
    "onnx_to_text", "parse_edges", "spearman",
]
