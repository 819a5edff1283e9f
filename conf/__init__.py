"""Hydra configs, importable as privgan_runner.conf so installed copies find them (see setup.py)."""
