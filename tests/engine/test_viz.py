"""engine.viz draws the graph behind a tensor and writes DOT text."""

from __future__ import annotations

import engine


def _graph():
    x = engine.randn(2, 3)
    w = engine.Parameter(engine.randn(3, 4))
    w.name = "w"
    return (x @ w).tanh().sum()


def test_build_graph_nodes_and_edges():
    nodes, edges = engine.viz.build_graph(_graph())
    labels = sorted(n["label"].split("\n")[0] for n in nodes.values() if n["kind"] == "function")
    assert labels == ["MatMul", "Sum", "Tanh"]
    assert any(n["kind"] == "leaf" and n["label"].startswith("w\n(3, 4)") for n in nodes.values())
    # x, w -> MatMul -> h -> Tanh -> t -> Sum -> y
    assert len(edges) == 7


def test_dot_text_is_valid_looking():
    dot = engine.viz.to_dot(_graph())
    assert dot.startswith("digraph medgrad {") and dot.rstrip().endswith("}")
    assert dot.count("->") == 7 and "MatMul" in dot


def test_draw_graph_writes_a_png(tmp_path):
    path = tmp_path / "graph.png"
    fig = engine.viz.draw_graph(_graph(), path)
    assert path.stat().st_size > 2000
    assert fig is not None
