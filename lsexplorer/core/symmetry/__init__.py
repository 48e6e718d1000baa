"""The symmetries of a network point: permutations, sign flips, merging and duplicating neurons, alignment to another point, and counting the subspaces they build."""
