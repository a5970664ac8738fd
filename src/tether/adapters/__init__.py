"""Adapters: the edges between tether and other systems.

Each adapter lives in its own module, imports its third-party package lazily and, when
that package is missing, fails with the command that installs the matching extra. Core
tether never imports an adapter.

- :mod:`tether.adapters.dask`: monitoring profiles of Dask DataFrames
  (``pip install 'tether[dask]'``).
- :mod:`tether.adapters.mlflow`: import MLflow registered models, versions and aliases;
  load ``models:/`` and ``runs:/`` versions (``pip install 'tether[mlflow]'``).
- :mod:`tether.adapters.otel`: one OpenTelemetry span per decision, GenAI semantic
  conventions for agents' tool calls (``pip install 'tether[otel]'``).
- :mod:`tether.adapters.sklearn`: ``GovernedModel``, governed serving of any
  scikit-learn-compatible model (scikit-learn is a core dependency).
"""
