"""Recognizer models. ``numpy_lenet5`` and ``weights`` read without torch; ``lenet5`` (the
trainable module) imports torch: import it explicitly."""

from .alphabet import DEFAULT, Alphabet

__all__ = ["Alphabet", "DEFAULT"]
