"""The stages of a job, in the order pipeline.py runs them; each a function with the inputs it reads and what it
writes to the run folder (run_folder.py):

    data.py      load_data: the dataset, the audit's canaries, the split       -> (membership.npz, saved by the job)
    train.py     train_or_load: G and D trained under the mechanism, or loaded -> checkpoints/, history.csv
    attack.py    run_attacks: every membership-inference attack               -> scores/, results `attacks`
    audit.py     run_audits: the audits beside the accountant's epsilon       -> audit/, results `audit`
    evaluate.py  compute_metrics: every metric                                -> results `metrics`
    plots.py     draw_plots                                                    -> plots/
    record.py    finish: the job's record                                      -> results.json, status.json

A new stage is one function here and one `with stage("name"):` line in pipeline._stages.
"""
