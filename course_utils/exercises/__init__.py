"""Checkers for the notebook exercises.

Each ``check_<thing>(your_function)`` runs the student's function on cases the notebook does not
show and prints friendly feedback: what was expected and what came back. It never raises, so a
wrong answer is a message, not a traceback. One module per notebook (``nb02.py`` ...); every name
in a module's ``__all__`` is importable from ``course_utils.exercises``.
"""

import importlib
import pkgutil

from ._check import Case, CheckResult, Mistake, run_checks

__all__ = ["Case", "CheckResult", "Mistake", "run_checks"]

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        _module = importlib.import_module(f"{__name__}.{_info.name}")
        for _name in getattr(_module, "__all__", []):
            globals()[_name] = getattr(_module, _name)
            __all__.append(_name)
