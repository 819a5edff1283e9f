"""Hostile input, drawn: every numeric and string key of the composed config set to a value a user might type
by mistake (negative, zero, NaN, infinite, huge, the wrong type, empty) and checked with check_only. The
contract: the job is accepted or refused naming its key (ConfigError) -- never another exception, never a
hang. Accepted drawings then train one tiny epoch without a crash. The same for the audit's and the report's
arguments: exit 0 or 2, never a traceback.

Seeded (derandomized), bounded in examples and time; the cases the drawings found are kept below as
regular tests.
"""

from __future__ import annotations

import math
import signal
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf, open_dict

from privgan_runner import pipeline
from privgan_runner.errors import ConfigError, DatasetNotFoundError

from .conftest import TINY, compose_config

#: configurations whose keys are drawn: the default, and one per family of options with keys of its own
BASES = (
    (),
    ("privacy=dpsgd",),
    ("audit=one_run", "audit.n_canaries=8", "audit.k_pos=2", "audit.k_neg=2"),
    ("privacy=pigan", "privacy.pretrain_epochs=1", "privacy.warmup_epochs=0"),
    ("privacy=privgan", "privacy.pretrain_epochs=1", "privacy.warmup_epochs=0"),
    ("attack=[white_box,top_m,tvd,monte_carlo,distance,domias,logan]",),
    (
        "objective=wasserstein",
        "regularizer=gradient_penalty",
        "privacy=gswgan",
        "model.conditional=true",
        "privacy.n_discriminators=3",
        "objective.n_critic=1",
    ),
    ("objective=wasserstein", "regularizer=gradient_penalty", "privacy=dpgan", "objective.n_critic=1"),
    ("regularizer=weight_clip",),
    ("regularizer=spectral_norm",),
    ("regularizer=orthonormal",),
)
MISTAKES = (-1, 0, 1, 2, -0.5, 0.5, 1.5, math.nan, math.inf, -math.inf, 10**12, 10**30, "", "abc", True, None, 1e-300)
TIME_LIMIT = 30  # seconds one drawing may take before it counts as a hang


def _leaves(node, prefix: str = "") -> list[str]:
    out = []
    for key, value in node.items():
        name = f"{prefix}{key}"
        if name.startswith("hydra") or name in ("check_only", "trainer.progress"):
            continue
        out += _leaves(value, name + ".") if OmegaConf.is_dict(value) else [name]
    return out


_COMPOSED: dict = {}


def _base(i: int):
    if i not in _COMPOSED:
        cfg = compose_config(*TINY, "trainer.epochs=1", "metric=[gen_gap]", *BASES[i])
        _COMPOSED[i] = (cfg, _leaves(cfg))
    return _COMPOSED[i]


@contextmanager
def _time_limit(seconds: int):
    def hang(*_):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _with(i: int, key: str, value):
    cfg, _ = _base(i)
    cfg = cfg.copy()
    with open_dict(cfg):
        OmegaConf.update(cfg, key, value, merge=False)
    return cfg


def check(cfg, run_dir) -> bool:
    """True when the job is accepted, False when it is refused naming a key; anything else fails the test."""
    checked = cfg.copy()
    checked.check_only = True
    try:
        with _time_limit(TIME_LIMIT):
            pipeline.run(checked, run_dir=run_dir)
    except (ConfigError, DatasetNotFoundError) as exc:
        assert getattr(exc, "key", None) or isinstance(exc, DatasetNotFoundError), exc
        return False
    return True


@st.composite
def drawn_configs(draw):
    i = draw(st.integers(0, len(BASES) - 1))
    keys = _base(i)[1]
    key = draw(st.sampled_from(keys))
    return i, key, draw(st.sampled_from(MISTAKES))


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(drawn_configs())
def test_a_mistyped_key_is_accepted_or_refused_by_name_never_a_traceback(tmp_path_factory, drawing):
    i, key, value = drawing
    check(_with(i, key, value), tmp_path_factory.mktemp("fuzz") / "job")


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(drawn_configs())
def test_an_accepted_drawing_trains_one_tiny_epoch(tmp_path_factory, drawing):
    i, key, value = drawing
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > 100:
        value = 3  # a huge accepted size trains for ever by design; the drawing's key still varies
    cfg = _with(i, key, value)
    run_dir = tmp_path_factory.mktemp("fuzz") / "job"
    if check(cfg, run_dir):
        try:
            with _time_limit(3 * TIME_LIMIT):
                results = pipeline.run(cfg, run_dir=run_dir)
        except (ConfigError, DatasetNotFoundError):
            return  # a refusal that needs the trained model (a re-attack setting) is a refusal all the same
        assert results["status"] in ("completed", "collapsed")


# --- what the drawings found, kept ---


@pytest.mark.parametrize(
    "base, key, value, refused",
    [
        (1, "model.z_dim", 10**12, "model.z_dim"),  # tried to allocate 8 PB
        (6, "model.width", 10**30, "model.width"),
        (0, "stages", 10**30, "stages"),  # not a list: a TypeError before the config was checked
        (1, "stages", False, "stages"),
        (0, "trainer.threads", 10**12, "trainer.threads"),  # torch.set_num_threads overflowed
        (0, "trainer.device", 10**30, "trainer.device"),
        (0, "dataset.generator_seed", math.nan, "dataset.generator_seed"),
        (0, "dataset.n_samples", 10**12, "dataset.n_samples"),  # 7 TiB of labels
        (0, "dataset.image_size", 10**6, "dataset.image_size"),
        (0, "dataset.channels", 2, "dataset.channels"),  # a 2-channel image cannot be drawn: failed at the plots
        (2, "attack.white_box.name", True, "attack.white_box.name"),
        (1, "privacy.epsilon", 10**30, "privacy.epsilon"),  # Opacus' calibration never ended
        (0, "seed", 10**30, "seed"),
        (2, "audit.n_canaries", 10**12, "audit.n_canaries"),  # 1.8 PiB of canary images
    ],
)
def test_what_the_drawings_found_is_refused_by_name(tmp_path, base, key, value, refused):
    with pytest.raises(ConfigError) as err:
        pipeline.run(_with(base, key, value), run_dir=tmp_path / "job")
    assert err.value.key == refused


# --- the audit's and the report's arguments ---

ARGUMENT_MISTAKES = st.sampled_from(["-1", "0", "1", "0.5", "2", "nan", "inf", "-inf", "1e30", "", "abc", "None"])


@pytest.fixture(scope="module")
def audited_sweep(tmp_path_factory):
    import numpy as np

    from privgan_runner.io import write_json, write_npz
    from privgan_runner.run_folder import RunFolder

    root = tmp_path_factory.mktemp("audited")
    for seed in range(6):
        folder = RunFolder(root / str(seed))
        write_json(folder.path / "status.json", {"status": "completed"})
        folder.write_results({"status": "completed", "seed": seed, "config": {"seed": seed}})
        write_npz(
            folder.canary_scores_file,
            canary_idx=np.arange(3),
            canary_in=np.arange(3) % 2 == seed % 2,
            scores=np.ones(3),
        )
    return root


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["--target", "--alpha", "--n-attacks", "--delta", "--seed"]), ARGUMENT_MISTAKES)
def test_the_audits_arguments_exit_0_or_2(audited_sweep, capsys, argument, value):
    from privgan_runner.audit.__main__ import main

    out = audited_sweep.parent / f"{audited_sweep.name}-out.json"
    try:
        main([str(audited_sweep), argument, value, "--out", str(out)])
    except SystemExit as stop:
        assert stop.code == 2, capsys.readouterr().err
    assert "Traceback" not in capsys.readouterr().err


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["", "nowhere", "report.md", ".", "a b/ü", "--all", "--latex"]))
def test_the_reports_arguments_exit_0_or_2(audited_sweep, tmp_path_factory, capsys, value):
    from privgan_runner.report.__main__ import main

    out = tmp_path_factory.mktemp("report")
    try:
        code = main(
            [str(audited_sweep), "--out", str(out / value)] if not value.startswith("--") else [str(out), value]
        )
    except SystemExit as stop:
        code = stop.code
    assert code in (0, 1, 2) and "Traceback" not in capsys.readouterr().err
