"""The job's record: results.json (every figure with its description, the versions, the resolved config) and
status.json, written once at the end of the job, completed or not, and handed to the logger."""

from __future__ import annotations

from omegaconf import OmegaConf

from ..console import print_summary
from ..results import Figure, Results, describe
from ..run_folder import RunFolder
from .audit import spent_epsilon


def figure_descriptions(parts, results: Results) -> dict:
    """results.json's `figures`: every reported figure's description, from the attack and metric classes."""
    out: dict = {}
    for attack in parts.attacks:
        out.update(describe(attack.describe_figures(), attack.name))
    for metric in parts.metrics:
        out.update(describe(metric.figures))
    if "audit" in results:
        out.update(describe(parts.audit.figures(parts.attacks)))
    if spent_epsilon(results.get("privacy") or {}) is not None:
        out.update(describe([Figure("epsilon_spent", False, True, description="the accountant's spent epsilon")]))
    return out


def finish(cfg, parts, results: Results, folder: RunFolder, stage: str, message: str = "") -> Results:
    import torch

    results["figures"] = figure_descriptions(parts, results)
    results["versions"] = {"privgan_runner": __import__("privgan_runner").__version__, "torch": torch.__version__}
    results["config"] = OmegaConf.to_container(cfg, resolve=True)
    folder.write_results(results)
    folder.write_status(results["status"], stage, message)
    try:
        parts.logger.finish(results, folder.path)
    finally:
        print_summary(results)
    return results
