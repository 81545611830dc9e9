"""``draw_graph``: the computational graph behind a Value, drawn with matplotlib only (no graphviz)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .engine import Value, topological_order

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["draw_graph", "MAX_DRAWN_NODES"]


#: Above this many Values a drawing is unreadable; draw_graph refuses and says so.
MAX_DRAWN_NODES = 60


def _layout(root: Value) -> tuple[list[Value], dict[int, int], dict[int, float]]:
    """Columns by distance from the root (root rightmost), rows in the order a depth-first walk meets them."""
    order = topological_order(root)
    distance = {id(root): 0}
    for node in reversed(order):  # every user of a node comes before it here
        for parent in node.inputs:
            distance[id(parent)] = max(distance.get(id(parent), 0), distance[id(node)] + 1)
    # Rows: a depth-first walk from the root, inputs top to bottom, gives tree-like drawings.
    seen: list[Value] = []
    marked: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in marked:
            continue
        marked.add(id(node))
        seen.append(node)
        stack.extend(reversed(node.inputs))
    rank = {id(node): i for i, node in enumerate(seen)}
    columns: dict[int, list[Value]] = {}
    for node in order:
        columns.setdefault(distance[id(node)], []).append(node)
    row: dict[int, float] = {}
    for nodes in columns.values():
        nodes.sort(key=lambda n: rank[id(n)])
        for i, node in enumerate(nodes):
            row[id(node)] = -(i - (len(nodes) - 1) / 2)
    return order, distance, row


def draw_graph(root: Value, title: str | None = None, show_grad: bool = True) -> Figure:
    """Draw the computational graph behind ``root``: boxes for Values, circles for operations.

    Each box shows a Value's label (if any), its ``data`` and (``show_grad``) its ``grad``;
    arrows run from inputs to the operation that uses them to its result. Leaves are blue,
    the root green. Uses matplotlib only. Returns the Figure (close it with ``plt.close(fig)``).
    """
    import matplotlib.pyplot as plt

    if not isinstance(root, Value):
        raise ValueError(f"draw_graph expects a Value (the result of an expression), got {type(root).__name__}.")
    order, distance, row = _layout(root)
    if len(order) > MAX_DRAWN_NODES:
        raise ValueError(
            f"this graph has {len(order)} Values, too many to draw readably (the limit is {MAX_DRAWN_NODES}). "
            "Draw a smaller expression, e.g. one neuron instead of a whole network's loss."
        )
    depth = max(distance.values())
    n_rows = max(sum(1 for n in order if distance[id(n)] == d) for d in range(depth + 1))
    fig, ax = plt.subplots(figsize=(max(4.0, 2.6 * depth + 2.2), max(2.2, 1.25 * n_rows + 0.8)))

    def box_xy(node: Value) -> tuple[float, float]:
        return (depth - distance[id(node)]) * 2.0, row[id(node)]

    arrow = dict(arrowstyle="-|>", color="#555555", lw=1.0, shrinkA=22, shrinkB=22)
    for node in order:
        x, y = box_xy(node)
        if node is root:
            face = "#d6f5d6"
        elif node.is_leaf:
            face = "#dbe9f9"
        else:
            face = "#f2f2f2"
        lines = [node.label] if node.label else []
        lines.append(f"data {node.data:.4g}")
        if show_grad:
            lines.append(f"grad {node.grad:.4g}")
        ax.text(
            x,
            y,
            "\n".join(lines),
            ha="center",
            va="center",
            fontsize=9,
            family="monospace",
            bbox=dict(boxstyle="round,pad=0.35", fc=face, ec="#333333"),
            zorder=3,
        )
        if node.inputs:  # the operation: a circle just left of its result
            ox = x - 1.0
            ax.text(
                ox,
                y,
                node.op,
                ha="center",
                va="center",
                fontsize=9,
                zorder=3,
                bbox=dict(boxstyle="circle,pad=0.3", fc="#fff4d6", ec="#b8860b"),
            )
            ax.annotate("", xy=(x, y), xytext=(ox, y), arrowprops=dict(arrow, shrinkA=12, shrinkB=30), zorder=2)
            for i, parent in enumerate(node.inputs):
                px, py = box_xy(parent)
                repeats = node.inputs[:i].count(parent)  # x * x: two arrows from the same box
                skips = px < x - 2.0 and abs(py - y) < 0.5  # a straight arrow would run through other boxes
                bend = 0.0 if not (repeats or skips or parent in node.inputs[i + 1 :]) else (0.35 if i % 2 else -0.35)
                ax.annotate(
                    "",
                    xy=(ox, y),
                    xytext=(px, py),
                    zorder=2,
                    arrowprops=dict(arrow, shrinkA=30, shrinkB=12, connectionstyle=f"arc3,rad={bend}"),
                )
    ys = [row[id(n)] for n in order]
    ax.set_xlim(-1.0, depth * 2.0 + 1.0)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
