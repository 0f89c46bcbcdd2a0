"""Are two README-job output folders the same in their data? (before/after a speed change)

Every numeric dataset of integrated.nxs and reduced.nxs byte for byte, pattern.png and peaks.csv
byte for byte, the report notebook's text outputs. Exit 1 on any difference.

    python benchmarks/compare_outputs.py out/before out/after
"""

import json
import sys
from pathlib import Path

import h5py


def numeric(f: h5py.File) -> dict:
    found = {}
    f.visititems(lambda k, o: found.__setitem__(k, o[()].tobytes())
                 if isinstance(o, h5py.Dataset) and o.dtype.kind in "fiub" else None)
    return found


def text_outputs(path: Path) -> list:
    nb = json.loads(path.read_text())
    return [[o.get("text") or o.get("data", {}).get("text/plain") or o.get("data", {}).get("text/markdown")
             for o in c.get("outputs", [])] for c in nb["cells"] if c["cell_type"] == "code"]


def main() -> int:
    a, b = Path(sys.argv[1]), Path(sys.argv[2])
    bad = 0
    for name in ("integrated.nxs", "reduced.nxs"):
        with h5py.File(a / name, "r") as fa, h5py.File(b / name, "r") as fb:
            da, db = numeric(fa), numeric(fb)
            layout_a, layout_b = [], []
            fa.visit(layout_a.append)
            fb.visit(layout_b.append)
        if set(layout_a) != set(layout_b):
            print(f"{name}: different layout: {sorted(set(layout_a) ^ set(layout_b))}")
            bad += 1
        diff = [k for k in da if da[k] != db.get(k)]
        bad += len(diff)
        print(f"{name}: {len(da)} numeric datasets compared byte for byte"
              + (f"; DIFFERENT: {', '.join(diff)}" if diff else ", all identical"))
    for name in ("pattern.png", "peaks.csv"):
        same = (a / name).read_bytes() == (b / name).read_bytes()
        print(f"{name}: {'identical' if same else 'DIFFERENT'}")
        bad += not same
    same = text_outputs(a / "powder-report.ipynb") == text_outputs(b / "powder-report.ipynb")
    print(f"powder-report.ipynb text outputs: {'identical' if same else 'DIFFERENT'}")
    bad += not same
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
