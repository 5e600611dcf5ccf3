"""The mapping protocol as an executable state machine, per design variant.

>>> from rbmap.model import build
>>> m = build("upstream", pages=2, page_events=1, events=2, processes=1, nesting=1)
>>> len(m.init_states())
1
"""

from __future__ import annotations

from .config import Config
from .errors import SpecError
from .protocol import RingBufferModel
from .rules import RULES, Variant
from .variants import SHIPPED, load_variant, shipped_names


def build(variant: str | Variant, rules: dict | None = None, **config) -> RingBufferModel:
    """A model of ``variant`` (a shipped name, a .toml path or a Variant) with rule
    overrides and config keys (see :class:`Config`)."""
    v = variant if isinstance(variant, Variant) else load_variant(variant)
    if rules:
        v = v.with_rules(**rules)
    return RingBufferModel(v, Config.from_dict(config))


__all__ = ["build", "Config", "SpecError", "RingBufferModel", "RULES", "Variant",
           "SHIPPED", "load_variant", "shipped_names"]
