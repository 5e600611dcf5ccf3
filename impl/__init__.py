"""A concrete per-CPU ring buffer and both mapping ABIs on real bytes."""
