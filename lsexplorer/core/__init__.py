"""Numerics, data and the session store of lsexplorer; never imports Qt, the GUI or the CLI.

Sub-packages, lowest first (a module imports only its own sub-package or lower ones; import-linter
checks it): base < landscape | store < data | symmetry | channels | training | population <
critical < saddles | paths < analyses < experiment < sweep. docs/architecture.md lists every module.
"""
