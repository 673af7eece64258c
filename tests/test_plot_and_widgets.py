import matplotlib.pyplot as plt
import numpy as np
import pytest

from aelib import plot, train, widgets


def test_image_grid_and_reconstructions():
    images = np.random.default_rng(0).random((12, 64))
    fig, ax = plot.image_grid(images, ncols=5, titles=range(12), title="grid")
    assert ax.get_title() == "grid" and len(ax.images) == 1
    assert ax.images[0].get_array().shape == (3 * 9 + 1, 5 * 9 + 1)
    fig, axes = plot.reconstructions(images, images * 0.5, n=4)
    assert len(axes) == 2
    plt.close("all")


def test_plot_bad_input():
    with pytest.raises(ValueError, match="image_shape"):
        plot.image_grid(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="same shape"):
        plot.reconstructions(np.zeros((2, 64)), np.zeros((2, 63)))


def test_loss_curve():
    history = train.History(train_loss=[1.0, 0.5, 0.25], val_loss=[1.1, 0.6, 0.3])
    fig, ax = plot.loss_curve(history)
    assert len(ax.lines) == 2
    plt.close(fig)


def test_demo_redraws_when_a_control_moves():
    calls = []

    def draw(level, size):
        calls.append((level, size))
        fig, ax = plt.subplots()
        ax.set_title(f"{level:.1f} {size}")
        return fig

    demo = widgets.Demo(draw, {"level": widgets.slider("level", 0.2, 0.0, 1.0, 0.1),
                               "size": widgets.int_slider("size", 3, 1, 5)}, title="test")
    assert calls == [(0.2, 3)] and demo.figure.axes[0].get_title() == "0.2 3"
    first_png = bytes(demo.image.value)
    assert first_png.startswith(b"\x89PNG")
    demo.controls["size"].value = 5
    assert bytes(demo.image.value) != first_png
    assert calls[-1] == (0.2, 5) and demo.figure.axes[0].get_title() == "0.2 5"
    demo.controls["level"].value = 0.7
    assert demo.values() == {"level": 0.7, "size": 5}
    assert len(plt.get_fignums()) == 1  # earlier figures are closed, not leaked
    plt.close("all")


def test_model_diagram_draws_one_box_per_stage_and_refuses_bad_layers():
    fig, ax = plot.model_diagram([("x", 64), ("h", 8), ("x̂", 64)], arrows=["W_enc, σ", "W_dec"], code=1)
    assert len(ax.patches) == 3
    assert {t.get_text() for t in ax.texts} >= {"x\n64", "h\n8", "W_enc, σ", "W_dec"}
    fig, ax = plot.model_diagram([("x", 64), ("mask", None), ("x̃", 64)])
    assert len(ax.patches) == 3
    with pytest.raises(ValueError, match="one arrow label per gap"):
        plot.model_diagram([("x", 64), ("h", 8)], arrows=["a", "b"])
    with pytest.raises(ValueError, match="positive integers"):
        plot.model_diagram([("x", 0)])
    with pytest.raises(ValueError, match="code should index"):
        plot.model_diagram([("x", 4)], code=3)
