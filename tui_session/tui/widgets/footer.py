"""The key footer: Textual's compact footer that shows whole keys only.

Textual's footer is a horizontal scroll area: keys that do not fit run under the command
palette key (docked right) and show there cut ("^g Cancel all ^▏^p palette"). This one hides,
in binding order, every key that would not fit whole before the palette key, so the screen
orders its bindings by priority and the most important keys are the ones shown. It re-fits
when the bindings change (Textual recomposes the footer) and when the width changes.

The palette key's covering of the last column is in chat.tcss (see the comment there).
"""

from __future__ import annotations

from textual.geometry import Size
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeyFooter(Footer):
    async def recompose(self) -> None:
        await super().recompose()
        self.fit()

    def on_resize(self) -> None:
        self.call_after_refresh(self.recompose)  # keys hidden at the old width may fit now

    def fit(self) -> None:
        keys = [key for key in self.query_children(FooterKey) if key.styles.display != "none"]
        palette = [key for key in keys if key.has_class("-command-palette")]
        room = self.size.width - sum(_outer_width(key) for key in palette)
        for key in keys:
            if key in palette:
                continue
            room -= _outer_width(key)
            key.display = room >= 0

    def shown(self) -> list[str]:
        """The keys shown, in order (for tests and diagnostics)."""
        return [key.key for key in self.query_children(FooterKey) if key.display]


def _outer_width(key: FooterKey) -> int:
    content = key.get_content_width(Size(0, 0), Size(0, 0))
    return content + key.styles.gutter.width + key.styles.margin.width
