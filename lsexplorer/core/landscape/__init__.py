"""The loss as a function of a flat parameter vector: batched networks, exact derivatives and Hessians, symmetric eigen-decompositions, generic landscapes, slices and test potentials."""
