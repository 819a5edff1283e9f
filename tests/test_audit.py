"""Empirical ε lower bounds: the formulas on fixed counts, their soundness on mechanisms of known ε, and the
one-run audit's data flow (canaries out of the attacks' split, trained on exactly when drawn in)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from privgan_runner.audit import bounds
from privgan_runner.audit.canaries import guesses
from privgan_runner.errors import ConfigError

# --- the formulas, against hand computations on fixed counts ---


def test_one_run_p_value_by_hand():
    """m = r = v = 2, ε = 0, δ = 0.1: q = 1/2, β = P[Bin(2, 1/2) >= 2] = 1/4; the δ term's
    max_i P[2 > Bin >= 2 - i] / i is max(1/2, 3/4 / 2) = 1/2; p = 1/4 + 1/2 * 0.1 * 2 * 2 = 0.45."""
    assert bounds.one_run_p_value(2, 2, 2, 0.0, 0.1) == pytest.approx(0.45)
    assert bounds.one_run_p_value(2, 2, 2, 0.0, 0.0) == pytest.approx(0.25)
    assert bounds.one_run_p_value(10, 4, 0, 3.0, 0.0) == 1.0


def test_one_run_epsilon_by_hand():
    # every one of 100 guesses right, δ = 0: the bound is logit(q) with q^100 = 0.05
    q = 0.05 ** (1 / 100)
    assert bounds.one_run_epsilon(100, 100, 100, 0.0, 0.05) == pytest.approx(math.log(q / (1 - q)), abs=1e-6)
    # 90 of 100 right: q solves P[Bin(100, q) >= 90] = 0.05
    q = optimize.brentq(lambda p: stats.binom.sf(89, 100, p) - 0.05, 0.5, 0.999)
    assert bounds.one_run_epsilon(1000, 100, 90, 0.0, 0.05) == pytest.approx(math.log(q / (1 - q)), abs=1e-6)
    # δ only loosens it; chance accuracy proves nothing
    assert bounds.one_run_epsilon(1000, 100, 90, 1e-3, 0.05) < bounds.one_run_epsilon(1000, 100, 90, 0.0, 0.05)
    assert bounds.one_run_epsilon(1000, 100, 50, 0.0, 0.05) == 0.0


def test_clopper_pearson_and_gdp_bounds_by_hand():
    # 0 errors of 500 each way: the one-sided 97.5% upper bound is 1 - 0.025^(1/500)
    u = 1 - 0.025 ** (1 / 500)
    expected = math.log((1 - 1e-5 - u) / u)
    assert bounds.clopper_pearson_epsilon(0, 500, 0, 500, 1e-5) == pytest.approx(expected, rel=1e-6)
    assert bounds.clopper_pearson_epsilon(250, 500, 250, 500, 1e-5) == 0.0  # a coin flip proves nothing
    # μ-GDP: δ(0) = Φ(μ/2) - Φ(-μ/2); the bound is where δ(ε) meets δ
    assert bounds.gdp_delta(0.0, 1.0) == pytest.approx(stats.norm.cdf(0.5) - stats.norm.cdf(-0.5))
    mu = bounds.gdp_mu(10, 500, 10, 500)
    u = stats.beta.ppf(0.975, 11, 490)
    assert mu == pytest.approx(2 * stats.norm.ppf(1 - u))
    eps = bounds.gdp_epsilon(10, 500, 10, 500, 1e-5)
    assert bounds.gdp_delta(eps, mu) == pytest.approx(1e-5, abs=1e-9)
    assert bounds.gdp_epsilon(250, 500, 250, 500, 1e-5) == 0.0


def test_guesses_abstain_on_ties_and_follow_the_records_not_their_order():
    scores = np.array([3.0, 3.0, 3.0, 2.0, 1.0, 0.0, 0.0])
    g = guesses(scores, k_pos=2, k_neg=2)
    assert g.tolist() == [0, 0, 0, 0, 0, -1, -1]  # three tied at the top do not fit in 2
    assert guesses(scores, 3, 1).tolist() == [1, 1, 1, 0, 0, 0, 0]  # two tied at the bottom do not fit in 1
    perm = np.random.default_rng(0).permutation(len(scores))
    assert (guesses(scores[perm], 3, 2) == guesses(scores, 3, 2)[perm]).all()


# --- soundness: mechanisms whose ε is known ---


def _rr_trial(rng, m: int, epsilon: float) -> np.ndarray:
    """ε-DP randomized response on each canary's inclusion bit (each canary changes only its own output),
    with a jitter independent of the secrets so the auditor's ranking has no ties."""
    inside = rng.random(m) < 0.5
    keep = rng.random(m) < math.exp(epsilon) / (1 + math.exp(epsilon))
    reported = np.where(keep, inside, ~inside)
    return inside, reported + 0.5 * rng.random(m)


@pytest.mark.parametrize("epsilon", [0.5, 2.0])
def test_one_run_bound_exceeds_a_randomized_responses_epsilon_at_most_alpha_of_the_time(epsilon):
    rng = np.random.default_rng(1)
    m, trials, alpha = 200, 400, 0.05
    lbs = []
    for _ in range(trials):
        inside, scores = _rr_trial(rng, m, epsilon)
        g = guesses(scores, m // 2, m // 2)
        r, v = int((g != 0).sum()), int((g == np.where(inside, 1, -1)).sum())
        lbs.append(bounds.one_run_epsilon(m, r, v, 0.0, alpha))
    lbs = np.array(lbs)
    exceed = int((lbs > epsilon).sum())
    # at most alpha of the trials, up to sampling error (binomial upper 99.9% quantile)
    assert exceed <= stats.binom.ppf(0.999, trials, alpha)
    assert lbs.mean() > 0.4 * epsilon  # and not vacuous: the bound finds much of the true ε


def test_multi_run_bounds_are_sound_on_a_gaussian_mechanism():
    """A trial's output N(μ·in, 1) is μ-GDP, so (ε(δ), δ)-DP. The multi-run audit (threshold on one half of the
    trials, bound on the other) exceeds ε(δ) in at most alpha of repeated audits, for both formulas."""
    from privgan_runner.audit.multi_run import multi_run_bound

    rng = np.random.default_rng(2)
    mu, delta, alpha, audits, trials = 1.0, 1e-5, 0.05, 200, 800
    true_eps = optimize.brentq(lambda e: bounds.gdp_delta(e, mu) - delta, 0, 50)
    found = []
    for k in range(audits):
        inside = rng.random(trials) < 0.5
        out = multi_run_bound(rng.normal(mu * inside, 1.0), inside, delta, alpha, seed=k)
        assert out["held_out_trials"] == trials // 2
        found.append((out["epsilon_lb_cp"], out["epsilon_gdp_assumed"]))
    found = np.array(found)
    assert ((found > true_eps).sum(0) <= stats.binom.ppf(0.999, audits, alpha)).all()
    assert found[:, 0].mean() > 0.2 and found[:, 1].mean() > found[:, 0].mean()  # detectable, GDP tighter


def test_the_gdp_figure_is_no_bound_on_randomized_response_and_clopper_pearson_is():
    """Randomized response is exactly (2, 0)-DP but its trade-off curve is not Gaussian: the GDP figure exceeds 2
    in (almost) every audit -- it is named `epsilon_gdp_assumed`, never a bound -- while the Clopper-Pearson
    bound exceeds 2 in at most alpha of them."""
    from privgan_runner.audit.multi_run import multi_run_bound

    rng = np.random.default_rng(3)
    epsilon, delta, alpha, audits, trials = 2.0, 1e-5, 0.05, 100, 1000
    found = []
    for k in range(audits):
        inside, scores = _rr_trial(rng, trials, epsilon)
        out = multi_run_bound(scores, inside, delta, alpha, seed=k)
        found.append((out["epsilon_lb_cp"], out["epsilon_gdp_assumed"]))
        assert "not a bound" in out["epsilon_gdp_assumed_note"]
    found = np.array(found)
    assert (found[:, 0] > epsilon).sum() <= stats.binom.ppf(0.999, audits, alpha)
    assert (found[:, 1] > epsilon).mean() > 0.9  # the Gaussian assumption overstates RR's epsilon


def test_the_multi_run_delta_is_the_runs_own():
    from privgan_runner.audit.__main__ import run_delta

    assert run_delta({"privacy.delta": 1e-3, "audit.delta": None}) == 1e-3
    assert run_delta({"privacy.delta": 1e-3, "audit.delta": 1e-6}) == 1e-6
    assert run_delta({}) == 1e-5  # a run without a mechanism's delta: the audit's default


def test_multi_run_audit_reads_one_trial_per_run_folder(tmp_path):
    """Forty runs of one configuration, the target canary in for twenty: perfectly separated scores give the
    Clopper-Pearson bound of the held-out half's counts; a run of another configuration is refused."""
    from privgan_runner.audit.__main__ import main
    from privgan_runner.audit.multi_run import multi_run_bound
    from privgan_runner.io import write_json, write_npz
    from privgan_runner.run_folder import RunFolder

    inside = np.array([True, False] * 20)
    for seed, is_in in enumerate(inside):
        folder = RunFolder(tmp_path / "sweep" / str(seed))
        write_json(folder.path / "status.json", {"status": "completed"})
        folder.write_results({"status": "completed", "seed": seed, "config": {"seed": seed, "trainer": {"epochs": 3}}})
        write_npz(
            folder.canary_scores_file,
            canary_idx=np.arange(3),
            canary_in=np.array([is_in, 1, 0]),
            scores=np.array([0.9 if is_in else 0.1, 0.5, 0.5]),
        )
    out = main([str(tmp_path / "sweep"), "--delta", "1e-5"])
    scores = np.where(inside, 0.9, 0.1)
    assert out == {"target": 0, **multi_run_bound(scores, inside, 1e-5)}
    assert out["false_positives"] == out["false_negatives"] == 0 and out["epsilon_lb_cp"] > 0
    assert (tmp_path / "sweep" / "audit_multi_run.json").is_file()
    other = RunFolder(tmp_path / "sweep" / "9")
    write_json(other.path / "status.json", {"status": "completed"})
    other.write_results({"status": "completed", "config": {"seed": 9, "trainer": {"epochs": 4}}})
    write_npz(other.canary_scores_file, canary_idx=np.arange(3), canary_in=np.ones(3), scores=np.zeros(3))
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "sweep")])
    assert stop.value.code == 2


def _audited_runs(root, n=6, n_canaries=3, with_canaries=True):
    from privgan_runner.io import write_json, write_npz
    from privgan_runner.run_folder import RunFolder

    for seed in range(n):
        folder = RunFolder(root / str(seed))
        write_json(folder.path / "status.json", {"status": "completed"})
        folder.write_results({"status": "completed", "seed": seed, "config": {"seed": seed}})
        if with_canaries:
            write_npz(
                folder.canary_scores_file,
                canary_idx=np.arange(n_canaries),
                canary_in=np.arange(n_canaries) % 2 == seed % 2,
                scores=np.linspace(0, 1, n_canaries),
            )
    return root


@pytest.mark.parametrize(
    "args, argument",
    [
        (["--target", "3"], "--target"),  # the runs have canaries 0..2
        (["--target", "-1"], "--target"),
        (["--n-attacks", "0"], "--n-attacks"),
        (["--alpha", "0"], "--alpha"),
        (["--alpha", "1.5"], "--alpha"),
        (["--delta", "2"], "--delta"),
        (["--seed", "-1"], "--seed"),  # found by tests/test_fuzz.py: numpy's ValueError
        (["--out", "{tmp}"], "--out"),  # a folder, not a file
    ],
)
def test_the_multi_run_audit_refuses_bad_arguments_in_one_line_and_writes_nothing(tmp_path, capsys, args, argument):
    from privgan_runner.audit.__main__ import main

    sweep = _audited_runs(tmp_path / "sweep")
    before = sorted(p.name for p in sweep.iterdir())
    with pytest.raises(SystemExit) as stop:
        main([str(sweep), *(a.replace("{tmp}", str(tmp_path)) for a in args)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and argument in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in sweep.iterdir()) == before


def test_the_multi_run_audit_says_what_its_input_lacks(tmp_path, capsys):
    from privgan_runner.audit.__main__ import main

    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "nowhere")])
    assert stop.value.code == 2 and "no such run folder" in capsys.readouterr().err
    plain = _audited_runs(tmp_path / "plain", with_canaries=False)
    with pytest.raises(SystemExit) as stop:
        main([str(plain)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "none with canaries" in err and "audit=one_run" in err and "more seeds" not in err


def test_the_multi_run_audit_writes_only_where_it_is_told(tmp_path):
    from privgan_runner.audit.__main__ import main

    sweep = _audited_runs(tmp_path / "sweep")
    before = sorted(p.name for p in sweep.iterdir())
    main([str(sweep), "--out", str(tmp_path / "elsewhere" / "audit.json")])
    assert (tmp_path / "elsewhere" / "audit.json").is_file() and sorted(p.name for p in sweep.iterdir()) == before


# --- configuration ---


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["audit.n_canaries=10", "audit.k_pos=8", "audit.k_neg=8"], "audit.k_pos"),
        (["audit.signal=monte_carlo", "attack=[white_box,monte_carlo]"], "audit.signal"),
        (["audit.signal=distance"], "audit.signal"),
        (["audit.canaries=bogus"], "audit.canaries"),
        (["audit.alpha=1.5"], "audit.alpha"),
        # GS-WGAN and DPAC release G only: a signal that reads their (private, unreleased) discriminators
        (["privacy=gswgan", "objective=wasserstein", "regularizer=gradient_penalty"], "audit.signal"),
        (
            ["privacy=dpac", "objective=wasserstein", "regularizer=gradient_penalty", "model.conditional=true"],
            "audit.signal",
        ),
    ],
)
def test_bad_audit_configs_are_refused_naming_the_key(overrides, key):
    from privgan_runner.pipeline import build_components

    from .conftest import compose_config

    with pytest.raises(ConfigError) as err:
        build_components(compose_config("audit=one_run", *overrides))
    assert err.value.key == key


def test_a_g_only_mechanism_is_audited_through_what_it_releases():
    from privgan_runner.pipeline import build_components

    from .conftest import compose_config

    parts = build_components(
        compose_config(
            "audit=one_run",
            "privacy=gswgan",
            "objective=wasserstein",
            "regularizer=gradient_penalty",
            "attack=[distance,white_box]",
            "audit.signal=distance",
        )
    )
    assert parts.audit.signal == "distance" and not parts.privacy.releases_discriminator


def test_more_canaries_than_the_pool_is_refused_before_anything_is_written(tiny_run, tmp_path):
    with pytest.raises(ConfigError, match="audit.n_canaries"):
        tiny_run("audit=one_run", "audit.canaries=natural", "audit.n_canaries=100")
    assert not (tmp_path / "run" / "job.json").exists() and not (tmp_path / "run" / "membership.npz").exists()
    with pytest.raises(ConfigError, match="audit.canaries"):
        tiny_run("audit=one_run", "audit.canaries=mislabeled")  # an unconditional model


# --- the one-run audit's data flow ---


@pytest.mark.parametrize("kind", ["natural", "ood", "mislabeled"])
def test_canaries_stay_out_of_the_attacks_split_and_are_trained_on_exactly_when_drawn_in(tiny_run, monkeypatch, kind):
    from privgan_runner.audit.canaries import plant
    from privgan_runner.data.split import Membership
    from privgan_runner.data.synthetic import Synthetic
    from privgan_runner.training.trainer import Trainer

    seen = {}
    fit = Trainer.fit

    def spy(self, G, D, objective, regularizer, images, labels, **kw):
        seen["images"], seen["labels"] = images.clone(), labels.clone()
        return fit(self, G, D, objective, regularizer, images, labels, **kw)

    monkeypatch.setattr(Trainer, "fit", spy)
    extra = ["model.conditional=true"] if kind == "mislabeled" else []
    results, run_dir = tiny_run(
        "audit=one_run",
        f"audit.canaries={kind}",
        "audit.n_canaries=12",
        "audit.k_pos=3",
        "audit.k_neg=3",
        "metric=[gen_gap]",
        *extra,
    )
    m = Membership.load(run_dir / "membership.npz")
    canaries, inside = m.extra["canary_idx"], m.extra["canary_in"].astype(bool)
    assert len(canaries) == 12 and 0 < inside.sum() < 12
    attacked = np.concatenate([m.member_idx, m.nonmember_idx])
    assert not np.isin(canaries, attacked).any()  # no attack figure scores a canary
    n = results["dataset"]["n_members"]
    assert len(seen["images"]) == n + inside.sum()  # members and the canaries drawn in, nothing else
    pool = plant(Synthetic(image_size=16, n_samples=64).load(), kind, 12, 0, kind == "mislabeled").pool
    trained_rows = {(x.numpy().tobytes(), int(y)) for x, y in zip(seen["images"], seen["labels"])}
    for idx, is_in in zip(canaries, inside):  # each canary (image and label) is trained on iff drawn in
        assert ((pool.images[idx].numpy().tobytes(), int(pool.labels[idx])) in trained_rows) == bool(is_in)
    one_run = results["audit"]["one_run"]
    assert one_run["n_canaries"] == 12 and one_run["guesses"] <= 6 and one_run["epsilon_lb"] is not None
    assert (run_dir / "audit" / "canary_scores.npz").is_file()


def test_an_audit_is_reproduced_by_a_reattack(tiny_run):
    results, run_dir = tiny_run("audit=one_run", "audit.n_canaries=12", "audit.k_pos=3", "audit.k_neg=3")
    again, _ = tiny_run(
        "audit=one_run",
        "audit.n_canaries=12",
        "audit.k_pos=3",
        "audit.k_neg=3",
        "stages=[attack,evaluate]",
        run_dir=run_dir,
    )
    assert again["audit"] == results["audit"]


def test_descriptive_audit_labels_itself_and_reaches_the_report(tiny_run, tmp_path):
    from privgan_runner.report.collect import flatten

    results, run_dir = tiny_run("audit=descriptive")
    d = results["audit"]["descriptive"]["white_box"]
    assert "not a DP bound" in d["note"] and d["epsilon_cp_descriptive"] >= 0
    assert "one_run" not in results["audit"]
    row = flatten(run_dir)
    assert "audit.descriptive.white_box.epsilon_cp_descriptive" in row["figures"]
    assert "audit.descriptive.white_box.epsilon_cp_descriptive" in results["figures"]


@pytest.mark.slow  # trains a memorizing GAN with 100 canaries: about 30 s
def test_a_memorizing_gan_fails_the_audit_clearly():
    """Positive control: a GAN trained 400 epochs on 20 digits and 100 noise canaries (about half drawn in)
    is not 1-DP: white-box scores separate the canaries, and the one-run bound is well above 1."""
    from privgan_runner import pipeline

    from .conftest import compose_config

    cfg = compose_config("+experiment=digits_memorize", "audit=one_run", "metric=[gen_gap]", "trainer.progress=false")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        results = pipeline.run(cfg, run_dir=d)
    assert results["audit"]["one_run"]["epsilon_lb"] > 1.5


def test_the_roc_plots_dp_limit_is_the_hypothesis_test_region():
    """Kairouz et al. 2015: at ε = 0 a test cannot beat chance by more than δ; the limit meets both
    constraints where they cross, and never exceeds 1."""
    from privgan_runner.plots import dp_tpr_limit

    fpr = np.array([0.0, 0.1, 0.5, 1.0])
    assert dp_tpr_limit(fpr, 0.0, 0.01) == pytest.approx([0.01, 0.11, 0.51, 1.0])
    eps, delta = 1.0, 1e-5
    limit = dp_tpr_limit(fpr, eps, delta)
    assert limit[1] == pytest.approx(min(math.e * 0.1 + delta, 1 - math.exp(-1) * (1 - delta - 0.1)))
    assert (limit <= 1).all() and (np.diff(limit) >= 0).all()


@pytest.mark.slow  # eight small DP-SGD trainings: about 30 s
def test_one_run_bound_stays_under_dp_sgds_epsilon_over_repeated_runs(tiny_run, tmp_path):
    """DP-SGD at ε = 1 with 40 noise canaries and an auditor guessing all of them: over repeated runs the
    bound exceeds the accountant's ε no more often than alpha allows (up to sampling error)."""
    exceed = []
    for seed in range(8):
        results, _ = tiny_run(
            "privacy=dpsgd",
            "privacy.epsilon=1",
            "audit=one_run",
            "audit.n_canaries=40",
            "audit.k_pos=20",
            "audit.k_neg=20",
            "metric=[gen_gap]",
            f"seed={seed}",
            run_dir=tmp_path / str(seed),
        )
        audit = results["audit"]
        assert audit["accountant_epsilon"] == pytest.approx(results["privacy"]["epsilon"])
        exceed.append(audit["one_run"]["epsilon_lb"] > audit["accountant_epsilon"])
    assert sum(exceed) <= stats.binom.ppf(0.99, 8, 0.05)
