"""Width x seed sweeps on Dask: the plan, its manifest and chunks, and outcome fractions."""
