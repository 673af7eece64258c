"""Lecture demos: controls on the left, a picture on the right, redrawn as soon as a control moves.

A demo wraps a plain function ``draw(**values) -> matplotlib Figure``, so tests can call it,
or set a control's value, without a browser.
"""

import io

import ipywidgets as widgets
import matplotlib.pyplot as plt


class Demo(widgets.HBox):
    """An interactive figure: ``controls`` (name -> widget) feed ``draw``; ``figure`` is the latest one.

    The picture is sent to the browser as a PNG image widget, so it shows the same whatever
    matplotlib backend the kernel uses (inline, Agg, widget).
    """

    def __init__(self, draw, controls: dict, title: str):
        self.draw = draw
        self.controls = controls
        self.figure = None
        # the picture shrinks (keeping its aspect) to the room the controls leave, never overflowing the cell
        self.image = widgets.Image(format="png", layout=widgets.Layout(flex="1 1 auto", min_width="0", height="auto"))
        self.image.add_class("aelib-picture")
        heading = widgets.HTML(f"<b>{title}</b>")
        # flex "0 0 auto": the picture beside the controls never squeezes them, so readouts stay whole
        panel = widgets.VBox([heading, *controls.values()], layout=widgets.Layout(min_width="260px", flex="0 0 auto"))
        super().__init__([panel, self.image])
        self.add_class("aelib-demo")
        for control in controls.values():
            control.observe(self._redraw, names="value")
        self._redraw()

    def values(self) -> dict:
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def _redraw(self, _change=None) -> None:
        if self.figure is not None:
            plt.close(self.figure)
        self.figure = self.draw(**self.values())
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        self.image.value = buffer.getvalue()


def slider(description: str, value: float, min: float, max: float, step: float) -> widgets.FloatSlider:
    """A float slider that updates continuously, with a stable CSS class for browser tests."""
    control = widgets.FloatSlider(value=value, min=min, max=max, step=step, description=description,
                                  continuous_update=True, style={"description_width": "initial"})
    control.add_class("aelib-slider")
    return control


def int_slider(description: str, value: int, min: int, max: int, step: int = 1) -> widgets.IntSlider:
    """An integer slider, like :func:`slider`."""
    control = widgets.IntSlider(value=value, min=min, max=max, step=step, description=description,
                                continuous_update=True, style={"description_width": "initial"})
    control.add_class("aelib-slider")
    return control
