"""The HDF5 session file kept safe: hostile-file guards, the writer lock, atomic writes, the samples."""
