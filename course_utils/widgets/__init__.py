"""ipywidgets apps for the notebooks, each a thin layer over a plain function that tests call
directly (no browser needed). One module per app: ``attention`` (notebook 02), ``generation``
(notebook 08: the step table, generation frame by frame over ``course_utils.lens``, the playground)."""
