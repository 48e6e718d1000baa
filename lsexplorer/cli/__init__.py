"""The ``lsexplorer`` command line: argparse verbs over the core engine (:mod:`.commands`, whose
``main`` is the entry point), sweeps on Dask (:mod:`.sweep`), the stop signals (:mod:`.signals`) and
the command line's errors (:mod:`.errors`)."""
