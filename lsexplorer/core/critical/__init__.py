"""End point to certified critical point: refinement stages, polishing, Newton and LM, certification."""
