"""Numerics, data and the session store of lsexplorer. Never imports Qt."""
