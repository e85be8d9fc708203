"""The key footer: Textual's compact footer that shows whole keys only.

Textual's footer is a horizontal scroll area: keys that do not fit run under the command
palette key (docked right) and show there cut ("^g Cancel all ^▏^p palette"). This one shows,
in binding order, the keys that fit whole before the palette key and hides the rest, so the
screen orders its bindings by priority and the most important keys are the ones shown. On a
narrow screen (the app's `-narrow` breakpoint) dimmed keys give their room to the keys that
work now. Keys are composed hidden and shown by `fit()` in the same batch: no frame ever has a
cut key. It re-fits when the bindings change (Textual recomposes the footer) and on resize.

The palette key's covering of the last column is in chat.tcss (see the comment there).
"""

from __future__ import annotations

from collections.abc import Iterator

from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeyFooter(Footer):
    def compose(self) -> Iterator[Widget]:
        for widget in super().compose():
            if isinstance(widget, FooterKey) and not _is_palette(widget):
                widget.display = False  # until fit() has room for it
            yield widget

    async def recompose(self) -> None:
        with self.app.batch_update():
            await super().recompose()
            self.fit()

    def on_resize(self) -> None:
        self.call_after_refresh(self.recompose)  # keys hidden at the old width may fit now

    def fit(self) -> None:
        keys = list(self.query_children(FooterKey))
        room = self.size.width - sum(_outer_width(key) for key in keys if _is_palette(key))
        hide_dimmed = self.screen.has_class("-narrow")
        for key in keys:
            if _is_palette(key):
                continue
            if hide_dimmed and key.has_class("-disabled"):
                key.display = False
                continue
            room -= _outer_width(key)
            key.display = room >= 0

    def shown(self) -> list[str]:
        """The keys shown, in order (for tests and diagnostics)."""
        return [key.key for key in self.query_children(FooterKey) if key.display]


def _is_palette(key: FooterKey) -> bool:
    return key.has_class("-command-palette")


def _outer_width(key: FooterKey) -> int:
    content = key.get_content_width(Size(0, 0), Size(0, 0))
    return content + key.styles.gutter.width + key.styles.margin.width
