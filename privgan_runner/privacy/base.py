"""The privacy-mechanism kind.

A mechanism may change the models before training (`prepare`) and reports what it guarantees
(`describe`, written to results.json's "privacy" entry). Mechanisms that replace the D update or add
terms to the G loss extend these hooks.
"""
from __future__ import annotations

from typing import Any


class PrivacyMechanism:
    name: str = ""

    def prepare(self, G, D, n_members: int):
        """Return the (G, D) to train; called once before training."""
        return G, D

    def describe(self) -> dict[str, Any]:
        return {"mechanism": self.name, "epsilon": None, "delta": None}
