"""The Python API: run from overrides, read a run folder back, re-attack without retyping the model's config."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import privgan_runner as pr

from .conftest import TINY


def test_load_run_returns_what_the_run_wrote(tmp_path):
    results = pr.run([*TINY, "model.conditional=true", "metric=[gen_gap]"], run_dir=tmp_path / "run")
    run = pr.load_run(tmp_path / "run")
    assert run.status == "completed"
    assert run.results == json.loads((tmp_path / "run" / "results.json").read_text())
    assert run.figures["white_box"]["auc"] == results["attacks"]["white_box"]["auc"]
    for attack in ("white_box", "top_m"):
        with np.load(tmp_path / "run" / "scores" / f"{attack}.npz") as saved:
            for key in saved.files:
                np.testing.assert_array_equal(run.scores(attack)[key], saved[key])
    assert run.config.trainer.epochs == 2 and run.config.seed == 0
    assert len(run.membership.member_idx) == results["dataset"]["n_members"]
    assert run.history and run.history[-1]["step"] == results["train"]["steps"]
    assert run.history[-1]["d_loss"] == pytest.approx(results["train"]["final"]["d_loss"], rel=1e-6)
    images = run.sample(5)
    assert images.shape == (5, 1, 16, 16) and images.abs().max() <= 1.0
    assert torch.equal(images, run.sample(5))  # seeded
    with pytest.raises(KeyError, match="saved: top_m, white_box"):
        run.scores("logan")


def test_a_reattack_reads_the_model_configuration_from_the_run_folder(tmp_path):
    pr.run([*TINY, "trainer.epochs=3", "model.width=16"], run_dir=tmp_path / "run")
    again = pr.run(["stages=[attack,evaluate]", "attack=[white_box,tvd]"], run_dir=tmp_path / "run")
    assert again["config"]["trainer"]["epochs"] == 3 and again["config"]["model"]["width"] == 16
    assert set(again["attacks"]) == {"white_box", "tvd"}
    assert sorted(p.stem for p in (tmp_path / "run" / "scores").glob("*.npz")) == ["tvd", "white_box"]
    from privgan_runner.errors import ConfigError

    with pytest.raises(ConfigError, match="model.width"):  # a training key that disagrees is refused, named
        pr.run(["stages=[attack,evaluate]", "model.width=32"], run_dir=tmp_path / "run")


def test_a_killed_run_reads_back_as_stale_with_its_checkpointed_history(tiny_run, tmp_path, monkeypatch):
    """A job killed in training: status.json still says running, but no process holds the folder (stale); its
    history is the one resume.pt holds; asking for samples or results says what became of the job, in the
    API's words, not the command line's."""
    from privgan_runner.errors import NotTrainedError
    from privgan_runner.training.checkpoint import Checkpoint

    real_save, saves = Checkpoint.save, []

    def save_then_die(self, state):
        real_save(self, state)
        saves.append(state["epoch"])
        if len(saves) == 2:
            raise KeyboardInterrupt  # stands in for the kill: what is on disk is what matters

    monkeypatch.setattr(Checkpoint, "save", save_then_die)
    run_dir = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        tiny_run("trainer.checkpoint_every=1", "trainer.epochs=4", "trainer.log_every=1", run_dir=run_dir)
    status = json.loads((run_dir / "status.json").read_text())
    (run_dir / "status.json").write_text(json.dumps({**status, "status": "running"}))  # as SIGKILL leaves it
    run = pr.load_run(run_dir)
    assert run.status == "stale"
    assert len(run.history) > 0 and run.history[-1]["step"] > 0
    with pytest.raises(NotTrainedError, match="was killed.*resume.pt.*resumes"):
        run.sample(4)
    with pytest.raises(NotTrainedError, match="no results: the job was killed"):
        _ = run.results


def test_a_refused_run_says_it_was_refused(tiny_run, tmp_path):
    from privgan_runner.errors import ConfigError, NotTrainedError

    run_dir = tmp_path / "refused"
    with pytest.raises(ConfigError):
        tiny_run("trainer.batch_size=1000", run_dir=run_dir)
    run = pr.load_run(run_dir)
    assert run.status == "failed" and run.history == []
    with pytest.raises(NotTrainedError, match="no trained model.*refused before training.*trainer.batch_size"):
        run.sample(4)
    with pytest.raises(NotTrainedError, match="refused before training"):
        _ = run.results


def test_run_attack_adds_an_attack_and_keeps_the_run(tmp_path):
    """Run.attack re-attacks the trained model: the new attack is added, the earlier ones keep their figures and
    scores, the metrics are the run's own, and the experiment keeps its name (a re-attack used to take the
    default's); keep=False gives the new list alone."""
    first = pr.run([*TINY, "name=smoke", "metric=[gen_gap]"], run_dir=tmp_path / "run")
    run = pr.load_run(tmp_path / "run")
    again = run.attack(["tvd"])
    assert again["experiment"] == first["experiment"] == "smoke"
    assert set(again["attacks"]) == {"white_box", "top_m", "tvd"}
    assert again["attacks"]["white_box"]["auc"] == first["attacks"]["white_box"]["auc"]
    assert set(again["metrics"]) == set(first["metrics"])
    assert run.results["attacks"].keys() == again["attacks"].keys()  # the cached results were refreshed
    assert sorted(p.stem for p in (tmp_path / "run" / "scores").glob("*.npz")) == ["top_m", "tvd", "white_box"]
    alone = run.attack(["tvd"], keep=False, evaluate=False)
    assert set(alone["attacks"]) == {"tvd"} and "metrics" not in alone and alone["experiment"] == "smoke"


def test_save_samples_writes_a_grid_and_plots_are_named(tmp_path):
    pr.run([*TINY, "metric=[gen_gap]"], run_dir=tmp_path / "run")
    run = pr.load_run(tmp_path / "run")
    out = run.save_samples(tmp_path / "grid.png", 16, nrow=4)
    from PIL import Image

    with Image.open(out) as image:
        assert image.size[0] > 100 and image.size[1] > 100
    assert {"roc", "score_hist", "samples"} <= set(run.plots)
    assert run.plots["roc"] == tmp_path / "run" / "plots" / "roc.png"


@pytest.mark.parametrize(
    "mechanism",
    [
        ("objective=wasserstein", "regularizer=weight_clip"),
        ("privacy=dpgan", "objective=wasserstein", "regularizer=gradient_penalty"),
        ("privacy=gswgan", "objective=wasserstein", "regularizer=gradient_penalty", "privacy.n_discriminators=4"),
        (
            "privacy=dpac",
            "objective=wasserstein",
            "regularizer=gradient_penalty",
            "model.conditional=true",
            "privacy.n_discriminators=4",
        ),
    ],  # fmt: skip
    ids=["wgan", "dpgan", "gswgan", "dpac"],
)
def test_the_smoke_experiment_takes_the_wgan_mechanisms(mechanism, tmp_path):
    """+experiment=smoke's batch leaves a WGAN's 5 critic batches within its 64 members, so a mechanism's own
    requirements are what a user meets, and met, the job is accepted."""
    checked = pr.run(["+experiment=smoke", *mechanism, "check_only=true"], run_dir=tmp_path / "run")
    assert checked["status"] == "checked"
