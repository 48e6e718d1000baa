"""Around a critical point: closest saddle, Theorem 3's inertia, escape searches, Theorems 1-2, descent."""
