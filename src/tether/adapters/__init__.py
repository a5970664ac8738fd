"""Adapters: the edges between tether and other systems.

Each adapter lives in its own module, imports its third-party package lazily and, when
that package is missing, fails with the command that installs the matching extra. Core
tether never imports an adapter.

- :mod:`tether.adapters.dask`: monitoring profiles of Dask DataFrames
  (``pip install 'tether[dask]'``).
"""
