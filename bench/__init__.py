"""Galatea benchmarks: ``python -m bench run [--quick]``. See docs/performance.md."""
