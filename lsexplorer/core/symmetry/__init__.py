"""A network point's symmetries: permutations, sign flips, merged and duplicated neurons, counting."""
