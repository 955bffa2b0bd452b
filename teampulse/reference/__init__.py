"""The reference model: the oracle (`oracle`) and the replay command's I/O (`replay`).

The oracle's names are importable from here, so `from teampulse.reference import
reference_counts` reads as what it is.
"""

from teampulse.reference import oracle
from teampulse.reference.oracle import *  # noqa: F403 - the oracle's names, listed once there

__all__ = oracle.__all__
