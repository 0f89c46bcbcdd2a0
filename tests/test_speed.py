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
