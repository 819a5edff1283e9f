"""Membership-inference attacks: each scores every attacked record (higher = more likely a member)."""

from .base import Attack, AttackScores
from .figures import membership_figures

__all__ = ["Attack", "AttackScores", "membership_figures"]
