"""The two-spirals demo (python -m engine.demo) trains: its loss falls."""

from engine import demo


def test_demo_loss_falls(capsys):
    losses = demo.main(steps=60)
    assert losses[-1] < 0.8 * losses[0]
    assert "step    0" in capsys.readouterr().out
