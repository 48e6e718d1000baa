"""Progress records as the command line's bars use them: every stage starts at 0, counts up, ends at its total."""

import shutil
import threading
from collections import defaultdict
from pathlib import Path

from lsexplorer.core.analyses.analyze import analyze_session
from lsexplorer.core.experiment.experiment import build_config, run_experiment
from lsexplorer.core.store.session import load_session

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "toy_width5.h5"


def _records(generator) -> dict[str, list]:
    by_stage: dict[str, list] = defaultdict(list)
    while True:
        try:
            record = next(generator)
        except StopIteration:
            return by_stage
        by_stage[record.stage].append(record)


def _check(stage: str, records: list) -> None:
    done = [r.done for r in records]
    assert done[0] == 0, f"{stage}: the first record must say the stage began (done 0), got {done[:3]}"
    assert done == sorted(done), f"{stage}: done must never go back"
    assert done[-1] == records[-1].total == records[0].total, f"{stage}: ends at {done[-1]} of {records[0].total}"


def test_training_and_certification_stages_start_at_zero_and_end_at_their_totals():
    config = build_config("toy", None, {"seeds": {"start": 0, "count": 3}, "train": {"epochs": 300, "lr": 0.01,
                                                                                      "device": "cpu"}})
    stages = _records(run_experiment(config, threading.Event()))
    assert list(stages) == ["train", "certify"]
    for stage, records in stages.items():
        _check(stage, records)
    assert stages["train"][-1].total == 300 and stages["certify"][-1].total == 3


def test_every_analysis_stage_starts_at_zero_and_counts_every_run_it_takes(tmp_path):
    path = tmp_path / "s.h5"
    shutil.copy(SAMPLE, path)
    session = load_session(path)
    local = [i for i, k in enumerate(session.runs.kind) if k == "local_min"][:2]
    rows = local + [0]  # a global minimum: skipped by the local-minimum analyses, counted by the others
    stages = _records(analyze_session(session, rows, ["symmetry", "mu_sweep", "theorems"]))
    assert {"symmetry", "mu_sweep", "theorems"} <= set(stages)
    for stage, records in stages.items():
        _check(stage, records)
