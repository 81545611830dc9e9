"""Chapter 02's autograd, in one import: ``from course_lib.scratch.autograd import Value, MLP, draw_graph``.

The code lives in three files, each readable on its own:

- ``engine.py``: ``Value`` and ``topological_order``, the whole reverse-mode engine;
- ``value_network.py``: ``Neuron``, ``Layer``, ``MLP`` and ``cross_entropy`` built from Values;
- ``graph_drawing.py``: ``draw_graph`` (matplotlib only, no graphviz) and ``MAX_DRAWN_NODES``.
"""

from __future__ import annotations

from .engine import Value, topological_order
from .graph_drawing import MAX_DRAWN_NODES, draw_graph
from .value_network import MLP, Layer, Neuron, cross_entropy

__all__ = [
    "Value",
    "topological_order",
    "Neuron",
    "Layer",
    "MLP",
    "cross_entropy",
    "draw_graph",
    "MAX_DRAWN_NODES",
]
