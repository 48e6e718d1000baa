"""How much memory this process may still take, for estimates made before work starts."""

from __future__ import annotations

try:
    import resource
except ImportError:  # not on Windows: no address-space limit to honour
    resource = None


def available_memory() -> int | None:
    """Bytes of memory available to this process (``MemAvailable``, capped by RLIMIT_AS), or None."""
    limits = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    if resource is not None:
        try:
            soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        except (ValueError, OSError):
            soft = resource.RLIM_INFINITY
        if soft != resource.RLIM_INFINITY:
            limits.append(int(soft))
    return min(limits) if limits else None


__all__ = ["available_memory"]
