"""Internal: how the public Python API (``import lsexplorer as lx``) is built. Import from ``lsexplorer``.

One module per idea: :mod:`.session` (the session object, opening one), :mod:`.results` (a point, a
path), :mod:`.run_table` (runs and outcomes as pandas tables), :mod:`.running` (train, import),
:mod:`.sweeping` (sweeps), :mod:`.counting`, :mod:`.inputs` (checking what a call is given) and
:mod:`.progress` (progress bars and Ctrl-C). Modules here import light things only at the top, so
that ``import lsexplorer`` (and with it the ``lsexplorer`` command) starts at once.
"""
