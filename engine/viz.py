"""Pictures of the computational graph behind a tensor, for teaching.

    y = (x @ w + b).tanh().sum()
    engine.viz.draw_graph(y, "graph.png")      # matplotlib figure
    print(engine.viz.to_dot(y))                  # Graphviz DOT text (render with `dot -Tpng`)

Draw before calling backward (or back-propagate with retain_graph=True): backward frees the
graph's saved inputs, and a freed function is drawn as "(freed)" with nothing behind it.

Tensors are drawn as rounded boxes (name or "tensor", shape, dtype), functions as ellipses
named after their class; arrows follow the forward direction (inputs -> function -> output).
Leaves that require grad (parameters) are green, the output is blue.
"""

from __future__ import annotations

from engine.tensor import Parameter, Tensor

__all__ = ["build_graph", "to_dot", "draw_graph"]


def build_graph(root: Tensor):
    """Walk back from ``root``: returns (nodes, edges).

    nodes: {node_id: dict(kind="tensor"|"function", label=..., rank=...)};
    edges: [(from_id, to_id)] in the forward direction. Iterative, like backward itself.
    """
    nodes: dict[str, dict] = {}
    edges: list[tuple[str, str]] = []

    def tensor_node(t: Tensor, is_root=False):
        key = f"t{id(t)}"
        if key not in nodes:
            name = t.name or ("param" if isinstance(t, Parameter) else "tensor")
            kind = "output" if is_root else ("leaf" if t.grad_fn is None and t.requires_grad else "tensor")
            nodes[key] = dict(kind=kind, label=f"{name}\n{tuple(t.shape)} {t.dtype}", rank=t.generation)
        return key

    root_key = tensor_node(root, is_root=True)
    stack = [(root, root_key)]
    seen_fns = set()
    while stack:
        t, t_key = stack.pop()
        fn = t.grad_fn
        if fn is None:
            continue
        f_key = f"f{id(fn)}"
        edges.append((f_key, t_key))
        if id(fn) in seen_fns:
            continue
        seen_fns.add(id(fn))
        nodes[f_key] = dict(kind="function", label=type(fn).__name__, rank=fn.generation + 0.5)
        if fn.inputs is None:
            nodes[f_key]["label"] += "\n(freed)"
            continue
        for x in fn.inputs:
            x_key = tensor_node(x)
            if x.grad_fn is None:
                # a leaf sits just before its first consumer, not in a far-left column of its own
                nodes[x_key]["rank"] = max(nodes[x_key]["rank"], fn.generation)
            edges.append((x_key, f_key))
            stack.append((x, x_key))
    return nodes, list(dict.fromkeys(edges))


def to_dot(root: Tensor) -> str:
    """The graph as Graphviz DOT text."""
    nodes, edges = build_graph(root)
    colours = {"leaf": "palegreen", "output": "lightskyblue", "tensor": "white", "function": "lightgrey"}
    lines = ["digraph medgrad {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    for key, n in nodes.items():
        shape = "ellipse" if n["kind"] == "function" else "box"
        label = n["label"].replace("\n", "\\n")
        fill = colours[n["kind"]]
        lines.append(f'  {key} [label="{label}", shape={shape}, style="rounded,filled", fillcolor={fill}];')
    for a, b in edges:
        lines.append(f"  {a} -> {b};")
    lines.append("}")
    return "\n".join(lines)


def draw_graph(root: Tensor, path=None, ax=None, figsize=None):
    """Draw the graph with matplotlib, left (inputs) to right (output), columns by rank.

    Returns the matplotlib Figure; saves it to ``path`` when given.
    """
    import matplotlib.pyplot as plt

    nodes, edges = build_graph(root)
    ranks = sorted({n["rank"] for n in nodes.values()})
    column = {r: i for i, r in enumerate(ranks)}
    by_column: dict[int, list[str]] = {}
    for key, n in nodes.items():
        by_column.setdefault(column[n["rank"]], []).append(key)
    pos = {}
    tallest = max(len(v) for v in by_column.values())
    for c, keys in by_column.items():
        for i, key in enumerate(keys):
            pos[key] = (c * 2.2, (i - (len(keys) - 1) / 2) * 1.4)
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize or (max(4, 2.0 * len(ranks)), max(2.5, 1.3 * tallest)))
    else:
        fig = ax.figure
    colours = {"leaf": "#b8f0b8", "output": "#a8d8f8", "tensor": "white", "function": "#e0e0e0"}
    for a, b in edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.annotate("", xy=(x1 - 0.75, y1), xytext=(x0 + 0.75, y0),
                    arrowprops=dict(arrowstyle="->", color="0.35", lw=1))
    for key, n in nodes.items():
        x, y = pos[key]
        style = "round,pad=0.3" if n["kind"] != "function" else "circle,pad=0.2"
        if n["kind"] == "function":
            style = "round4,pad=0.3"
        ax.text(x, y, n["label"], ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle=style, fc=colours[n["kind"]], ec="0.3"))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.2, max(xs) + 1.2)
    ax.set_ylim(min(ys) - 1.0, max(ys) + 1.0)
    ax.axis("off")
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig
