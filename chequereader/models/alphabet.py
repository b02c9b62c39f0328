"""The recognizer's output classes.

An :class:`Alphabet` is an ordered tuple of single-character symbols; class ``k`` of the model
is ``chars[k]``. The rubbish class is not part of the alphabet: it is the model's extra
``exp(-j)`` mass (docs/design.md section 4). A locale adds classes with :meth:`Alphabet.extend`
(e.g. ``DEFAULT.extend("₹")``); a model trained on one alphabet refuses another on load.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..amounts import SYMBOLS as AMOUNT_SYMBOLS
from ..errors import ConfigError

DIGITS = "0123456789"


@dataclass(frozen=True)
class Alphabet:
    chars: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(set(self.chars)) != len(self.chars):
            raise ConfigError(f"alphabet: duplicate symbols in {self.chars!r}")
        for c in self.chars:
            if len(c) != 1:
                raise ConfigError(f"alphabet: symbol {c!r} is not a single character")

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, c: object) -> bool:
        return c in self.chars

    def index(self, c: str) -> int:
        try:
            return self.chars.index(c)
        except ValueError:
            raise ConfigError(f"alphabet: symbol {c!r} not in {''.join(self.chars)!r}") from None

    def extend(self, extra: str) -> Alphabet:
        return Alphabet(self.chars + tuple(c for c in extra if c not in self.chars))

    @property
    def string(self) -> str:
        return "".join(self.chars)


DEFAULT = Alphabet(tuple(DIGITS + AMOUNT_SYMBOLS))
