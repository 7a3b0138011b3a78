"""ipywidgets apps for the notebooks, each a thin layer over a plain function that tests call
directly (no browser needed). One module per app: ``attention`` (notebook 02), ``generation``
(notebook 08)."""
