"""From an end point to a certified critical point: refinement stages, symmetry-aware polishing, trust-region Newton, Levenberg-Marquardt, and certification."""
