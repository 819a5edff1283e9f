"""Aggregate run folders into paper-style tables (markdown + CSV) and plots.

python -m privgan_runner.report PATH... [--out DIR]
"""
