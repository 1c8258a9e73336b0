"""What a use case is given to open transactions on behalf of one caller."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from citadel.authn.context import Context


class Units(Protocol):
    """Opens units of work for one caller: `read()` for looking, `write()` for changing
    (the block's end commits). The API's `Work` and the console's `Visitor` are both one."""

    def read(self) -> AbstractContextManager[Context]: ...

    def write(self) -> AbstractContextManager[Context]: ...
