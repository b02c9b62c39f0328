"""Recognizer models. Import torch-using modules (``lenet5``, ``weights``) explicitly."""

from .alphabet import DEFAULT, Alphabet

__all__ = ["Alphabet", "DEFAULT"]
