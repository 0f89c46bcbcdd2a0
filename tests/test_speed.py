"""Speed work that must not change results: the calibrant cache, the GPU check's dry mode."""

import json
import os
import subprocess
import sys
from pathlib import Path

from panosc_cwl.powder import calibrant_two_theta
from panosc_cwl.simulate import get_calibrant

REPO = Path(__file__).resolve().parents[1]


def test_calibrant_cache_gives_pyfai_numbers_without_importing_pyfai(tmp_path, monkeypatch):
    monkeypatch.setenv("PANOSC_CWL_CACHE", str(tmp_path))
    first = calibrant_two_theta("CeO2", 1.0e-10)
    assert first == [float(v) for v in get_calibrant("CeO2", 1.0e-10).get_2th()]
    assert len(list(tmp_path.rglob("CeO2-*.json"))) == 1
    code = ("import json, sys; from panosc_cwl.powder import calibrant_two_theta as c; "
            "print(json.dumps([c('CeO2', 1.0e-10), 'pyFAI.calibrant' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PANOSC_CWL_CACHE=str(tmp_path)),
                         capture_output=True, text=True, check=True).stdout
    values, imported = json.loads(out)
    assert values == first  # bit for bit: floats round-trip through JSON
    assert imported is False
    # another wavelength is another entry, computed by pyFAI
    assert calibrant_two_theta("CeO2", 0.7e-10) == [float(v) for v in get_calibrant("CeO2", 0.7e-10).get_2th()]


def test_gpu_check_dry_run_lists_the_checks_and_exits_0():
    out = subprocess.run(["bash", str(REPO / "benchmarks/gpu_check.sh"), "--dry-run"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for check in ("pyFAI integrate1d", "PyNX", "nabu", "cwltool --enable-ext", "pyfai-integrate1d-gpu.cwl"):
        assert check in out.stdout
    bad = subprocess.run(["bash", str(REPO / "benchmarks/gpu_check.sh"), "--no-such-option"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "unknown option" in bad.stderr


def test_suggested_chunks_follow_the_cost_model():
    from panosc_cwl.chunks import predict, suggest_chunks

    # one wave, a chunk per slot, when chunks stay short
    plan = suggest_chunks(100000, nodes=4, cores_per_node=32, fixed_s=4.0, per_frame_s=0.03)
    assert plan.chunk == 782 and plan.n_chunks == 128 and plan.waves == 1
    assert plan.predicted_wall_s < predict(100000, 1, 128, 4.0, 0.03).predicted_wall_s
    ranges = plan.frame_ranges()
    assert ranges[0] == "0:782" and ranges[-1] == "99314:100000" and len(ranges) == plan.n_chunks
    # never so small that the fixed cost is over half of a job: fewer, longer chunks
    small = suggest_chunks(10000, nodes=4, cores_per_node=32, fixed_s=4.0, per_frame_s=0.03)
    assert small.chunk == 134 and small.n_chunks == 75 and small.overhead_fraction <= 0.5
    # chunks longer than max_chunk_s are split into waves
    long = suggest_chunks(10**6, nodes=1, cores_per_node=2, fixed_s=4.0, per_frame_s=0.03, max_chunk_s=600)
    assert long.chunk * 0.03 <= 600 and long.waves > 1
