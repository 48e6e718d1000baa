"""The loss of a flat parameter vector: batched nets, exact Hessians, eigen-decompositions, slices."""
