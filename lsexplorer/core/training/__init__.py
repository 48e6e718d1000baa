"""Batched full-batch training of many students at once, with generated native kernels."""
