"""The regularization report: why a configuration wins.

``python -m search report studies/a.yaml [studies/b.yaml ...]`` writes, per study, a self-contained HTML page
with its PNG figures, a Markdown summary and ``report.json`` under ``runs/<study>/report/`` (another storage than
the study's default journal: ``runs/<study>/report-<storage>/``); with several studies it also writes ``runs/comparison/index.html``: the best regularizers per architecture side by side.

- :mod:`search.report.data`: every number (one JSON-serialisable :class:`~search.report.data.StudyData`);
- :mod:`search.report.figures`: the study-level figures (Optuna's matplotlib plots);
- :mod:`search.report.render`: the page, the Markdown and the text ``make study`` prints, from jinja2 templates
  in ``templates/``;
- :mod:`search.report.build`: ``python -m search report``.

The test accuracies follow the protocol of :mod:`search.verdict` (retrained on the whole training split, evaluated
once on the test split, several seeds).
"""
