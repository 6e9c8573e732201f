"""Figure modules: importing this package registers every figure (see `bench.core.figure`)."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
