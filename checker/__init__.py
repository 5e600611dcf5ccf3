"""Generic explicit-state model checking: knows nothing about ring buffers."""
