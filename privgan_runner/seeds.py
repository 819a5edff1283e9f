"""Named seed streams: every random draw of a run comes from the run's `seed` and a stream name, in one
table, instead of magic offsets spread through the code; a new part gets its own name and cannot shift
another part's draws.

    seeds.derive(seed, "member_groups")  ->  an int seed for that part

The streams and what they draw. The offsets are the values earlier versions used, so a seed keeps giving
the same split, groups and figures; streams with the same offset draw from different generators or for
unrelated purposes (e.g. the split's numpy draw and the bootstrap's), which costs nothing statistically.

| stream              | draws                                                        | used in
|---------------------|--------------------------------------------------------------|------------------------------
| split               | which pool records are members                               | data/split.py
| member_groups       | PIGAN's / PrivGAN's partition of the members into N groups    | privacy/group_classifier.py
| monte_carlo         | the Monte-Carlo attack's reference set and repetitions       | attacks/monte_carlo.py
| logan_knowledge     | the records LOGAN's attacker knows                           | attacks/logan.py
| logan_samples       | the generated samples LOGAN's attacker gets                  | attacks/logan.py
| logan_training      | LOGAN's attacker's weights and batches                       | attacks/logan.py
| classification      | the utility metric's generated samples, labels and CNN       | metrics/classification.py
| samples             | samples for plots and metrics (TrainedGAN.sample default)    | artifacts.py
| bootstrap           | the AUC interval's resamples                                 | attacks/figures.py
| tvd_permutations    | the TVD attack's permuted member labels (its chance level)   | attacks/tvd.py
| public              | which records are set aside as public data                   | pipeline.py
| gradient_canaries   | which gradient canaries are in, and their Poisson draws      | audit/auditor.py
| canary_inclusion    | which audit canaries are trained on (each with prob. 1/2)     | pipeline.py (audit/canaries.py)
| intra_fid:<k>       | the samples generated for class k                            | metrics/fidelity.py

Training itself draws from torch's default generator, seeded with `seed` when the run starts.
The domain backbone of the fidelity metrics is seeded with 0 on purpose: it is shared by every run on
the same data (its cache key holds the data, not the run).
"""

from __future__ import annotations

OFFSETS = {
    "split": 0,
    "member_groups": 7919,
    "monte_carlo": 104729,
    "logan_knowledge": 15485863,
    "logan_samples": 3,
    "logan_training": 0,
    "classification": 17,
    "samples": 0,
    "bootstrap": 0,
    "tvd_permutations": 2718281,
    "canary_inclusion": 31337,
    "public": 27644437,
    "gradient_canaries": 2147483647,
}


def derive(seed: int, stream: str) -> int:
    """The seed of `stream` for a run seeded with `seed` (`intra_fid:<k>` for class k's samples)."""
    if stream.startswith("intra_fid:"):
        return seed + int(stream.split(":", 1)[1])
    if stream not in OFFSETS:
        raise KeyError(f"unknown seed stream {stream!r}; the streams are {', '.join(OFFSETS)} and intra_fid:<k>")
    return seed + OFFSETS[stream]
