"""Edit strengths: how far along a direction each frame goes, and the unit they are counted in.

The unit is sigma, a standard deviation of the generator's own W codes (their covariance is measured once per
generator, by ``inversion.latent_stats``): strength s moves the edited W+ rows by s standard deviations of W,
RMS over the rows, each row along its own shift (``apply.direction_sigma``). For a W direction v this is
simply "s standard deviations of W along v" on every edited row, whichever rows are edited; for a per-layer
(W+) direction rows that pull in different directions do not cancel. So strengths are comparable across
generators and directions, and +-3 covers nearly all of the generator's own variation along a direction.
"""
from __future__ import annotations

from typing import List, Sequence, Union

import numpy as np

UNIT = ("sigma: standard deviations of the generator's W codes along the shift, RMS over the edited rows "
        "(for a W direction: the std of W along it)")


def parse_strengths(text: Union[str, float, Sequence[float]]) -> List[float]:
    """``'-3:3:7'`` (start:stop:count, evenly spaced, both ends included), ``'-2,0,1.5'`` or a number/list.

    Raises ``ValueError`` with the accepted forms for anything else (a count below 1, non-numbers, nan).
    """
    hint = "use START:STOP:COUNT like -3:3:7 (evenly spaced, ends included) or a comma list like -2,0,1.5"
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        values = [float(text)]
    elif isinstance(text, str):
        s = text.strip()
        if not s:
            raise ValueError(f"no strengths given: {hint}")
        if ":" in s:
            parts = s.split(":")
            if len(parts) != 3:
                raise ValueError(f"strengths {text!r} not understood: {hint}")
            try:
                start, stop = float(parts[0]), float(parts[1])
                count = int(parts[2])
            except ValueError:
                raise ValueError(f"strengths {text!r} not understood: {hint}") from None
            if count < 1:
                raise ValueError(f"strengths {text!r}: the count must be at least 1, got {count}")
            if count == 1 and start != stop:
                raise ValueError(f"strengths {text!r}: one strength cannot span {start} to {stop}; {hint}")
            values = np.linspace(start, stop, count).tolist()
        else:
            try:
                values = [float(p) for p in s.split(",")]
            except ValueError:
                raise ValueError(f"strengths {text!r} not understood: {hint}") from None
    else:
        try:
            values = [float(v) for v in text]
        except (TypeError, ValueError):
            raise ValueError(f"strengths {text!r} not understood: {hint}") from None
    if not values:
        raise ValueError(f"no strengths given: {hint}")
    if not all(np.isfinite(values)):
        raise ValueError(f"strengths {text!r} must be finite numbers")
    return [round(v, 12) + 0.0 for v in values]
