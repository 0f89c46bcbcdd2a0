"""The run catalogue (panosc_cwl.catalogue, panosc-cwl runs), each test on SQLite and on the project's
PostgreSQL (.ci/pg-up): real databases, real concurrent processes, real cwltool runs.

* opening an empty database creates the schema through the shipped Alembic migrations (at head);
* dataset claims are exactly-once: processes racing for the same datasets each get disjoint ones;
  a failed dataset is retried up to ``max_attempts``, then stays failed;
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect

from panosc_cwl.catalogue import (CatalogueUnavailable, DatasetClaim, current_revision, head_revision,
                                  open_catalogue)
from panosc_cwl.exceptions import InputError

ROOT = Path(__file__).resolve().parents[1]

RACER = r"""
import json, sys, time
from pathlib import Path
url, folder, owner, n = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
(folder / f"ready-{owner}").touch()
while not (folder / "go").exists():
    time.sleep(0.002)
from panosc_cwl.catalogue import open_catalogue
cat = open_catalogue(url)  # the first opener creates the schema; the others must not trip over it
got = []
for i in range(n):
    claim = cat.claim_dataset("race", f"raw/r{i:04d}", "wf-sha1", max_attempts=3, owner=owner)
    if claim is not None:
        assert claim.attempt == 1 and claim.status == "claimed"
        got.append(claim.dataset_key)
print(json.dumps(got))
"""


def test_open_empty_database_creates_schema_at_head(catalogue_url):
    with open_catalogue(catalogue_url) as cat:
        assert current_revision(cat.engine) == head_revision() == "0001"
        tables = set(inspect(cat.engine).get_table_names())
        assert {"alembic_version", "runs", "run_inputs", "run_outputs", "run_steps", "run_status_changes",
                "datasets"} <= tables
        uniques = inspect(cat.engine).get_unique_constraints("datasets")
        assert any(set(u["column_names"]) == {"rule", "dataset_key", "workflow_sha1"} for u in uniques)
    with open_catalogue(catalogue_url) as cat:  # a second open changes nothing
        assert current_revision(cat.engine) == "0001"


def test_concurrent_processes_claim_each_dataset_once(catalogue_url, tmp_path):
    n_proc, n_data = 4, 20
    procs = [subprocess.Popen([sys.executable, "-c", RACER, catalogue_url, str(tmp_path), f"p{k}", str(n_data)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(n_proc)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < n_proc and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()  # all start together, on a database without tables yet
    claimed: list[str] = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        claimed += json.loads(out)
    assert sorted(claimed) == [f"raw/r{i:04d}" for i in range(n_data)]  # each exactly once
    with open_catalogue(catalogue_url) as cat:
        rows = cat.datasets("race")
        assert len(rows) == n_data and {r.status for r in rows} == {"claimed"}
        assert cat.in_flight("race") == n_data


def test_failed_dataset_retried_up_to_max_attempts(catalogue_url):
    with open_catalogue(catalogue_url) as cat:
        key = "raw/r0007"
        first = cat.claim_dataset("powder", key, "aaa", max_attempts=2, owner="w1")
        assert isinstance(first, DatasetClaim) and first.attempt == 1 and first.run_id is None
        assert cat.claim_dataset("powder", key, "aaa", max_attempts=2, owner="w2") is None  # in flight
        cat.dataset_submitted("powder", key, "aaa", "run-1")
        assert cat.claim_dataset("powder", key, "aaa", max_attempts=2, owner="w2") is None
        assert [c.run_id for c in cat.unfinished_claims("powder")] == ["run-1"]
        cat.dataset_finished("powder", key, "aaa", "failed", "frames: not an HDF5 file")
        assert cat.in_flight("powder") == 0 and cat.unfinished_claims("powder") == []

        second = cat.claim_dataset("powder", key, "aaa", max_attempts=2, owner="w2")
        assert second is not None and second.attempt == 2 and second.owner == "w2" and second.reason is None
        assert cat.claim_dataset("powder", key, "aaa", max_attempts=2, owner="w1") is None
        cat.dataset_submitted("powder", key, "aaa", "run-2")
        cat.dataset_finished("powder", key, "aaa", "failed", "frames: not an HDF5 file")
        assert cat.claim_dataset("powder", key, "aaa", max_attempts=2, owner="w1") is None  # attempts spent
        [row] = cat.datasets("powder", "failed")
        assert row.attempt == 2 and row.reason == "frames: not an HDF5 file" and row.run_id == "run-2"

        # a new workflow version is a new dataset claim; a success is never claimed again
        again = cat.claim_dataset("powder", key, "bbb", max_attempts=2, owner="w1")
        assert again is not None and again.attempt == 1
        cat.dataset_submitted("powder", key, "bbb", "run-3")
        cat.dataset_finished("powder", key, "bbb", "succeeded")
        assert cat.claim_dataset("powder", key, "bbb", max_attempts=5, owner="w1") is None
        assert [r.workflow_sha1 for r in cat.datasets("powder")] == ["aaa", "bbb"]
        assert [r.status for r in cat.datasets(status="succeeded")] == ["succeeded"]

        with pytest.raises(InputError, match="status"):
            cat.dataset_finished("powder", key, "bbb", "done")
        with pytest.raises(InputError, match="never claimed"):
            cat.dataset_submitted("powder", "raw/unknown", "bbb", "run-4")


def test_unreachable_server_is_one_clear_error(tmp_path):
    with pytest.raises(CatalogueUnavailable, match="cannot be reached"):
        open_catalogue("postgresql+psycopg://nobody@127.0.0.1:1/none")
