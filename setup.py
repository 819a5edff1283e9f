"""Package layout only; everything else is in pyproject.toml.

The Hydra configs live at the repository's top level (conf/) and ship inside the package as
`privgan_runner.conf`, so a non-editable install finds them as well.
"""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["privgan_runner", "privgan_runner.*"]) + ["privgan_runner.conf"],
    package_dir={"privgan_runner.conf": "conf"},
)
