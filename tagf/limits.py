"""Upper bounds on the sizes a setting can ask for, so that a typo (`window: 10000000`, `steps: 100000`) is a
one-line error naming the setting rather than an out-of-memory crash later; whole numbers only (`batch_size: true`
is not 1). `TAGF_NO_LIMITS=1` lifts the bounds, for a machine that can take more.

    window: Annotated[int, bounded(9_000, "frames")] = Field(300, gt=0)
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import WrapValidator

NO_LIMITS_ENV = "TAGF_NO_LIMITS"


def bounded(maximum: int, unit: str) -> WrapValidator:
    """The validator of an int field (or of each item of a tuple of them): a whole number of at most `maximum`."""

    def check(value: Any, handler) -> int:
        if isinstance(value, bool):  # pydantic would take true as 1
            raise ValueError(f"expected a whole number, got {str(value).lower()}")
        number = handler(value)
        if number > maximum and os.environ.get(NO_LIMITS_ENV) != "1":
            raise ValueError(
                f"{number} {unit} is more than the limit of {maximum} ({NO_LIMITS_ENV}=1 lifts it)"
            )
        return number

    return WrapValidator(check)
