"""Every option of every group composes and builds; bad values are refused before any work."""

from __future__ import annotations

import json

import pytest

from privgan_runner.errors import ConfigError
from privgan_runner.pipeline import build_components

from .conftest import TINY, compose_config, options, run_cli

SINGLE_GROUPS = ["dataset", "model", "objective", "regularizer", "privacy", "trainer", "logger", "audit"]
LIST_GROUPS = ["attack", "metric"]


#: options that only make sense beside another choice
COMPANIONS = {("model", "pigan_dcgan"): ["dataset=fashion_mnist"], ("audit", "gradient"): ["privacy=dpsgd"]}


@pytest.mark.parametrize("group,option", [(g, o) for g in SINGLE_GROUPS for o in options(g)])
def test_every_single_option_builds(group, option):
    cfg = compose_config(f"{group}={option}", *COMPANIONS.get((group, option), []))
    parts = build_components(cfg)
    assert getattr(parts, group).name == option


@pytest.mark.parametrize("group", LIST_GROUPS)
def test_every_list_option_builds_together(group):
    every = options(group)
    cfg = compose_config(f"{group}=[{','.join(every)}]")
    parts = build_components(cfg)
    assert [x.name for x in getattr(parts, group + "s")] == every


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_builds(experiment):
    build_components(compose_config(f"+experiment={experiment}"))


def test_wu_learning_rates():
    assert compose_config().trainer.lr == pytest.approx(4e-4)  # plain JS GAN
    assert compose_config("regularizer=spectral_norm").trainer.lr == pytest.approx(2e-4)
    assert compose_config("objective=wasserstein").trainer.lr == pytest.approx(2e-4)
    assert compose_config("trainer.lr=1e-3").trainer.lr == pytest.approx(1e-3)


def test_critic_steps_follow_the_objective():
    """WGANs train the critic 5 times per G step (Arjovsky et al.), JS GANs once; an override wins."""
    assert compose_config().trainer.n_critic == 1
    assert compose_config("objective=wasserstein").trainer.n_critic == 5
    assert compose_config("objective=wasserstein", "trainer.n_critic=2").trainer.n_critic == 2
    table1 = compose_config("+experiment=wu_table1", "objective=wasserstein", "regularizer=gradient_penalty")
    assert (
        table1.trainer.n_critic == 5
        and compose_config("+experiment=wu_lfw", "objective=wasserstein").trainer.n_critic == 5
    )


@pytest.mark.parametrize(
    "override,key",
    [
        ("dataset.member_fraction=1.5", "dataset.member_fraction"),
        ("dataset.member_fraction=0", "dataset.member_fraction"),
        ("trainer.batch_size=-4", "trainer.batch_size"),
        ("trainer.epochs=0", "trainer.epochs"),
        ("trainer.lr=-1", "trainer.lr"),
        ("regularizer=weight_clip regularizer.low=0.1 regularizer.high=0.0", "regularizer.low"),
        ("dataset.image_size=50", "dataset.image_size"),
        ("model.conditional=true dataset=synthetic dataset.n_classes=1", "model.conditional"),
        ("stages=[train,deploy]", "stages"),
        ("seed=-1", "seed"),
    ],
)
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        build_components(compose_config(*override.split()))
    assert err.value.key == key
    assert key in str(err.value)


def test_batch_larger_than_members_is_refused_before_training(tiny_run, tmp_path):
    with pytest.raises(ConfigError, match="trainer.batch_size"):
        tiny_run("trainer.batch_size=100")
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize(
    "override,needle",
    [
        ("regularizer=bogus", "regularizer"),
        ("dataset.member_fraction=1.5", "dataset.member_fraction"),
        ("trainer.batch_size=-4", "trainer.batch_size"),
        ("trainer.epochs=0", "trainer.epochs"),
    ],
)
def test_cli_exits_nonzero_before_work(override, needle, tmp_path):
    proc = run_cli(override, f"hydra.run.dir={tmp_path}/run", cwd=tmp_path, timeout=60)
    assert proc.returncode != 0
    assert needle in proc.stderr
    run = tmp_path / "run"
    assert not (run / "results.json").exists() and not (run / "checkpoints").exists()  # nothing started
    if (run / "status.json").exists():  # a config error is recorded for sweeps' reports
        assert json.loads((run / "status.json").read_text())["status"] == "failed"


def test_cli_help_lists_groups(tmp_path):
    proc = run_cli("--help", cwd=tmp_path, timeout=60)
    assert proc.returncode == 0
    for group in SINGLE_GROUPS + LIST_GROUPS:
        assert f"{group}:" in proc.stdout


def test_tiny_config_is_valid():
    build_components(compose_config(*TINY))


@pytest.mark.slow  # trains for long or runs subprocesses: make test-all
def test_a_failed_job_does_not_stop_the_sweep_and_the_report_marks_it(tmp_path):
    """Job 2 of 2 cannot find its dataset; job 1 completes, and the report shows both."""
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m",
        "+experiment=smoke",
        "dataset=synthetic,cifar10",
        f"++dataset.root={tmp_path}/none",
        "trainer.epochs=2",
        "trainer.progress=false",
        "metric=[gen_gap]",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode != 0  # the sweep reports that a job failed ...
    statuses = sorted(json.loads(p.read_text())["status"] for p in sweep.glob("*/status.json"))
    assert statuses == ["completed", "failed"]  # ... after running every job
    from privgan_runner.report.__main__ import build_report

    table = build_report([sweep], tmp_path / "report")["table"]
    rows = {r["config"]["dataset.name"]: r for r in table}
    assert len(table) == 2
    assert rows["synthetic"]["completed"] == 1 and isinstance(rows["synthetic"]["figures"]["white_box.auc"], dict)
    assert rows["cifar10"]["failed"] == 1 and rows["cifar10"]["figures"]["white_box.auc"] == "failed"


@pytest.mark.slow  # trains for long or runs subprocesses: make test-all
def test_local_parallel_launcher_runs_every_job(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m",
        "hydra/launcher=local",
        "+experiment=smoke",
        "seed=0,1",
        "trainer.epochs=2",
        "trainer.progress=false",
        "metric=[gen_gap]",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/results.json"))]
    assert sorted(r["seed"] for r in results) == [0, 1]
    import os

    # two jobs at once share the cores: each gets its share of threads, not every core
    assert {r["train"]["threads"] for r in results} == {max(1, (os.cpu_count() or 1) // 2)}


def test_threads_per_job():
    from privgan_runner.training.trainer import Trainer

    assert Trainer(threads=3).job_threads() == 3
    assert Trainer().job_threads() == (__import__("os").cpu_count() or 1)  # no launcher: every core, one job
    with pytest.raises(ConfigError, match="threads"):
        build_components(compose_config("trainer.threads=0"))


def test_keep_freed_memory_is_true_or_false_and_applies_once_per_process():
    import platform

    from privgan_runner.training.devices import keep_freed_memory

    with pytest.raises(ConfigError, match="keep_freed_memory"):
        build_components(compose_config("trainer.keep_freed_memory=3"))
    kept = keep_freed_memory()
    assert kept == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
    assert keep_freed_memory() == kept


def test_slurm_preset_composes_with_requeue():
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="privgan_runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert "submitit" in launcher._target_.lower() and launcher.gpus_per_node == 1 and launcher.max_num_timeout > 0


def test_make_refuses_a_sweep_folder_made_with_other_arguments(tmp_path):
    """`make table1 SEEDS=0` then `SEEDS=0,1,2` into one folder would pair job numbers with other jobs' results."""
    import shutil
    import subprocess

    from .conftest import REPO

    if shutil.which("make") is None:
        pytest.skip("no make")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / ".installed").touch()  # newer than pyproject.toml: nothing to install
    stand_in = ["VENV=" + str(venv), "PY=true", f"SWEEPS={tmp_path / 'sweeps'}"]  # `true` for the interpreter

    def make(*args):
        return subprocess.run(
            ["make", "-C", str(REPO), "pigan-n", *stand_in, *args], capture_output=True, text=True, timeout=60
        )

    assert make("SEEDS=0", "ARGS=trainer.epochs=3").returncode == 0
    assert make("SEEDS=0", "ARGS=trainer.epochs=3").returncode == 0  # the same sweep again: resumes
    refused = make("SEEDS=0,1,2", "ARGS=trainer.epochs=3")
    assert (
        refused.returncode != 0
        and "was made with" in refused.stderr
        and "SEEDS=0 ARGS=trainer.epochs=3" in refused.stderr
    )
    assert make("SEEDS=0,1,2", "TAG=three").returncode == 0  # a new folder
    assert (tmp_path / "sweeps" / "pigan_n_three" / "make_args").read_text() == "SEEDS=0,1,2 ARGS="


def test_quick_trainer_wins_over_an_experiment():
    from privgan_runner.config import apply_trainer_profile

    cfg = apply_trainer_profile(compose_config("trainer=quick", "+experiment=fmnist_gan"))
    assert cfg.trainer.epochs == 30 and cfg.trainer.log_every == 10
    assert cfg.trainer.batch_size == 128  # the experiment's other keys stay
    plain = apply_trainer_profile(compose_config("+experiment=fmnist_gan"))
    assert plain.trainer.epochs == 300


def test_a_batch_larger_than_the_member_set_is_refused_before_anything_is_written(tmp_path):
    from privgan_runner import pipeline

    cfg = compose_config(*TINY, "trainer.batch_size=40")  # 32 members
    with pytest.raises(ConfigError, match="trainer.batch_size"):
        pipeline.run(cfg, run_dir=tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["status.json"]
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "failed"


OLD_QUICK = {  # the Makefile's QUICK overrides before they became profiles
    "quick_table1": "dataset.max_samples=600 trainer.epochs=60 trainer.batch_size=32 model.width=32 "
    "attack.white_box.bootstrap=200 attack.top_m.bootstrap=200",
    "quick_table2": "dataset.max_samples=400 trainer.epochs=40 model.width=32 attack.white_box.bootstrap=200 "
    "attack.logan.bootstrap=200 attack.logan.n_generated=2000 attack.logan.epochs=5",
    "quick_model": "model=dcgan model.conditional=true model.width=32 dataset.max_samples=1000 trainer.epochs=40 "
    "trainer.batch_size=50 metric=[gen_gap]",
}
OLD_QUICK["quick_pigan"] = OLD_QUICK["quick_model"] + " privacy.warmup_epochs=20 privacy.pretrain_epochs=5"


@pytest.mark.parametrize(
    "profile,experiment",
    [
        ("quick_table1", "+experiment=wu_table1 dataset=fashion_mnist objective=wasserstein regularizer=weight_clip"),
        ("quick_table2", "+experiment=wu_table2 dataset=fashion_mnist"),
        ("quick_model", "+experiment=fmnist_dpgan privacy.epsilon=2"),
        ("quick_pigan", "+experiment=fmnist_pigan privacy.lam=5"),
    ],
)
def test_quick_profiles_compose_what_the_makefile_strings_did(profile, experiment):
    from omegaconf import OmegaConf

    old = compose_config(*experiment.split(), *OLD_QUICK[profile].split())
    new = compose_config(*experiment.split(), f"+profile={profile}")
    assert OmegaConf.to_container(new, resolve=True) == OmegaConf.to_container(old, resolve=True)
    build_components(new)


@pytest.mark.parametrize("dataset", ["synthetic", "digits", "lfw_subset", "fashion_mnist", "cifar10", "celeba"])
def test_smoke_experiment_composes_with_any_dataset(dataset):
    cfg = compose_config("+experiment=smoke", f"dataset={dataset}")
    assert cfg.dataset.name == dataset and cfg.dataset.max_samples == 128
    build_components(cfg)


#: keys an experiment sets although its parent already has the value, because the protocol fixes them
#: on whichever dataset is chosen (the parent's value is the default dataset's, by coincidence)
PROTOCOL_KEYS = {
    ("wu_table1", "dataset.member_fraction"),  # Wu et al.: 50% members on every dataset
    ("smoke", "dataset.member_fraction"),  # any dataset: half of the 128 records
}


def _parent_overrides(experiment_file) -> list[str]:
    """The command line that composes what an experiment file starts from: its defaults list."""
    import yaml

    overrides = []
    for entry in yaml.safe_load(experiment_file.read_text()).get("defaults", []):
        if isinstance(entry, str):
            overrides.append(f"+experiment={entry}")
            continue
        ((key, value),) = entry.items()
        group = key.removeprefix("override /")
        overrides.append(f"{group}=[{','.join(value)}]" if isinstance(value, list) else f"{group}={value}")
    return overrides


def _leaves(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiment_files_state_only_what_changes(experiment):
    """An experiment file sets a key only where its value differs from what it starts from."""
    import yaml
    from omegaconf import OmegaConf

    from .conftest import CONF

    path = CONF / "experiment" / f"{experiment}.yaml"
    body = {k: v for k, v in yaml.safe_load(path.read_text()).items() if k not in ("defaults", "name")}
    parent = compose_config(*_parent_overrides(path))
    restated = [
        key
        for key, value in _leaves(body)
        if (experiment, key) not in PROTOCOL_KEYS and OmegaConf.select(parent, key) == value
    ]
    assert not restated, f"{path.name} restates its parent's values: {restated}"


def test_errors_survive_the_trip_back_from_a_worker_process():
    """joblib and submitit pickle a job's exception; an error that cannot be rebuilt aborted the whole sweep."""
    import pickle

    from privgan_runner.errors import DatasetNotFoundError, RunFolderError

    for error in (ConfigError("trainer.epochs", "must be >= 1"), RunFolderError("run folder x", "holds another job")):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and back.key == error.key and str(back) == str(error)
    back = pickle.loads(pickle.dumps(DatasetNotFoundError("no dataset under data/")))
    assert str(back) == "no dataset under data/"


def test_help_names_what_a_user_needs():
    """--help is the project's: check_only, a re-attack, --cfg job, the report and audit commands, tab
    completion, then the groups."""
    import subprocess
    import sys

    from .conftest import REPO

    out = subprocess.run([sys.executable, "-m", "privgan_runner", "--help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    needed = ["check_only=true", "stages=[attack,evaluate]", "--cfg job", "privgan_runner.report"]
    needed += ["privgan_runner.audit", "--shell-completion install=bash", "privacy: dpac, dpgan, dpsgd"]
    for text in needed:
        assert text in out.stdout, text
    assert 'eval "$(privgan-runner' in out.stdout  # the template's $$ reaches the user as one $
