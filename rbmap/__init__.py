"""rbmap: a model checker for the Linux trace ring-buffer mapping protocol.

Layers (each a top-level folder of the repository, mapped into this package):

- ``rbmap.checker``: generic explorer, properties, paths, state graph, z3 helpers;
  knows nothing about ring buffers.
- ``rbmap.model``: the mapping protocol as an executable state machine, per design
  variant.
- ``rbmap.impl``: the concrete ring buffer on real bytes under a controlled scheduler.
- ``rbmap.cli``: the ``rbmap`` command.
"""

__version__ = "0.1.0"
