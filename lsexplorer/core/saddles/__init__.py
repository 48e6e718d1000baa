"""What lies around a critical point: the closest saddle and the symmetry-induced decision, Theorem 3's inertia, escape searches, Theorems 1-2 and saddle descent."""
