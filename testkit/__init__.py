"""What the tests and the benchmarks share, importable by both: the Discord emulation
(``discord_emulator``), the harness that runs the real bot against it (``harness``), the load
driver (``load``) and the scripted backends it uses (``support``). It never imports
``tests`` (an import contract says so)."""
