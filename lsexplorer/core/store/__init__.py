"""The HDF5 session file and everything that keeps it safe: guards against hostile files and arrays, the writer lock, atomic writes, and where the bundled samples are."""
