"""Maintainer tools, not part of the product: they rebuild the shipped default predictor
(``python -m maintainer.predictor_store``), check the label noise of a store
(``python -m maintainer.label_noise``) and measure hand-designed baselines
(:mod:`maintainer.baselines`). They sit on top of every layer (docs/architecture.md)."""
