"""What the inline SVG charts of the HTML reports share: colours, geometry, axis steps."""

from __future__ import annotations

# Okabe & Ito's palette (told apart with every common form of colour blindness), then four
# of Paul Tol's muted colours for longer legends
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000", "#882255", "#44AA99", "#999933", "#AA4499")
WIDTH, HEIGHT = 960, 300
LEFT, RIGHT, TOP, BOTTOM = 70, 12, 14, 42


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10
