"""The standard rtpose nodes, written against :mod:`rtpose.api`.

Installed as the package ``rtpose_nodes`` and found through the ``rtpose.nodes``
entry point, exactly like a third-party plugin. Importing this package registers
every standard node type: each module of the package is one node and is imported
here, so a new node is a new file and nothing else.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
