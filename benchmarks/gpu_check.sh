#!/usr/bin/env bash
# GPU check of the project's GPU paths, in one go (<= 8 minutes) on a machine with an NVIDIA GPU:
#   1. pyFAI 1D integration on the GPU (OpenCL) vs the CPU (cython CSR), same frames: frames/s, max difference
#   2. PyNX CDI (pynx-cdi-id01) with PYNX_PU=cuda vs cpu: error vs the simulated truth, time
#   3. nabu's own GPU reconstruction vs our CPU path: centre of rotation, Pearson r vs the phantom, time
#   4. the GPU-hinted CWL tools through cwltool --enable-ext with the real nvidia-smi (cwltool's CUDA check)
# A GPU path that silently runs on the CPU (pyFAI engine not on a GPU device, nabu back end "cpu",
# PyNX not on cuda) is a FAIL; the script exits non-zero on any FAIL or MISSING.
#
# Usage:
#   benchmarks/gpu_check.sh --dry-run                  say which checks would run, exit 0 (also automatic
#                                                      when there is no GPU: no working `nvidia-smi -L`)
#   benchmarks/gpu_check.sh --fetch-wheels DIR [--python-version 3.12]
#                                                      here, with a registry: download the GPU wheels
#                                                      (pyopencl + deps; pyvkfft / cupy noted if absent
#                                                      or too big to carry) for CPython X manylinux x86_64
#   benchmarks/gpu_check.sh [--wheels DIR] [--python PY] [--frames N] [--out DIR]
#                                                      on the GPU machine (no internet): installs from DIR
#                                                      with pip --no-index, then runs the checks
#   --force                                            run the checks without a GPU too (each must FAIL:
#                                                      that is how the fallback detection is tested)
# Environment: PYTHON (interpreter with numpy/pyFAI/h5py/cwltool; default .venv/bin/python, else python3).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRY=0; FORCE=0; FETCH=""; WHEELS=""; PYVER="3.12"; FRAMES=100; OUT=""
PY="${PYTHON:-}"
CARRY_LIMIT_MB=64
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --fetch-wheels) FETCH="${2:?--fetch-wheels needs a folder}"; shift ;;
    --python-version) PYVER="${2:?}"; shift ;;
    --wheels) WHEELS="${2:?--wheels needs a folder}"; shift ;;
    --python) PY="${2:?}"; shift ;;
    --frames) FRAMES="${2:?}"; shift ;;
    --out) OUT="${2:?}"; shift ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: error: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$PY" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"; else PY="$(command -v python3 || echo python3)"; fi
fi

# ------------------------------------------------------------------ fetch mode (here, with a registry)
if [ -n "$FETCH" ]; then
  mkdir -p "$FETCH"
  PLAT=(--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_27_x86_64
        --platform manylinux_2_28_x86_64 --implementation cp --python-version "$PYVER" --only-binary=:all:)
  echo "downloading GPU wheels for CPython $PYVER manylinux x86_64 into $FETCH"
  "$PY" -m pip download -q "${PLAT[@]}" -d "$FETCH" pyopencl || { echo "FAIL: pyopencl wheel not available" >&2; exit 1; }
  if "$PY" -m pip download -q "${PLAT[@]}" --no-deps -d "$FETCH" pyvkfft 2>/dev/null; then
    echo "pyvkfft: wheel downloaded"
  else
    echo "pyvkfft: no binary wheel on the registry (only a 27 MB sdist that compiles against CUDA/OpenCL):"
    echo "         not carried; nabu's OpenCL back end needs it, its CUDA back end needs cupy or pycuda instead"
  fi
  echo "cupy-cuda12x: not carried (its wheel is over 100 MB, above the ${CARRY_LIMIT_MB} MiB the device tool carries);"
  echo "              pycuda: sdist only (needs nvcc and the CUDA headers to build)"
  size=$(du -sm "$FETCH" | cut -f1)
  ls -1 "$FETCH"
  echo "total ${size} MiB in $FETCH (limit ${CARRY_LIMIT_MB} MiB for the device tool's carry)"
  [ "$size" -le "$CARRY_LIMIT_MB" ] || { echo "FAIL: wheels exceed ${CARRY_LIMIT_MB} MiB" >&2; exit 1; }
  exit 0
fi

# ------------------------------------------------------------------ dry mode / no GPU
HAVE_GPU=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then HAVE_GPU=1; fi
plan() {
  echo "GPU checks (python: $PY; wheels: ${WHEELS:-none}; frames: $FRAMES):"
  echo "  0. install from wheels with pip --no-index: pyopencl (+ pyvkfft, cupy-cuda12x where carried)"
  echo "  1. pyFAI integrate1d: OpenCL on the GPU device vs cython CSR on the CPU, same $FRAMES Pilatus-1M frames"
  echo "     (frames/s both; FAIL unless the engine ran on a GPU device and max |diff|/max(I) < 1e-3)"
  echo "  2. PyNX pynx-cdi-id01 2D CDI, PYNX_PU=cuda vs cpu: error vs truth, seconds (MISSING without PyNX)"
  echo "  3. nabu reconstruction (its CUDA/OpenCL back-projector) vs our CPU path: CoR, Pearson r, seconds"
  echo "     (FAIL if nabu's back end is 'cpu' or the CoR differs from the CPU path's by > 0.5 px)"
  echo "  4. cwltool --enable-ext with the real nvidia-smi: pyfai-integrate1d-gpu.cwl (method recorded = opencl),"
  echo "     nabu-reconstruct.cwl (backend auto -> nabu), pynx-cdi.cwl (processing_unit cuda)"
}
if [ "$DRY" = 1 ] || { [ "$HAVE_GPU" = 0 ] && [ "$FORCE" = 0 ]; }; then
  [ "$HAVE_GPU" = 0 ] && echo "no GPU here (no working 'nvidia-smi -L'): dry run"
  plan
  exit 0
fi

# ------------------------------------------------------------------ GPU run
set +e
START=$(date +%s)
OUT="${OUT:-$(mktemp -d /tmp/gpu-check.XXXXXX)}"
mkdir -p "$OUT"
nvidia-smi -L || echo "no GPU: --force runs the checks anyway; every GPU check must FAIL"
plan
if [ -n "$WHEELS" ]; then
  pkgs=(pyopencl)
  ls "$WHEELS" | grep -qi '^pyvkfft' && pkgs+=(pyvkfft)
  ls "$WHEELS" | grep -qi '^cupy' && pkgs+=(cupy-cuda12x)
  echo "installing ${pkgs[*]} from $WHEELS (--no-index)"
  "$PY" -m pip install -q --no-index --find-links "$WHEELS" "${pkgs[@]}" || echo "MISSING: pip install from $WHEELS failed" >&2
fi
# panosc-cwl from this checkout (also for cwltool's steps: a shim on PATH, PYTHONPATH preserved)
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
SHIM="$OUT/bin"; mkdir -p "$SHIM"
printf '#!/bin/sh\nexec %s -m panosc_cwl "$@"\n' "$PY" > "$SHIM/panosc-cwl"; chmod +x "$SHIM/panosc-cwl"
export PATH="$SHIM:$(dirname "$PY"):$PATH"
"$PY" - "$REPO" "$OUT" "$FRAMES" <<'PYEOF'
import importlib, json, os, shutil, subprocess, sys, time
from pathlib import Path

import numpy as np

repo, out, n_frames = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
rows, bad = [], []


def row(check, status, cpu="", gpu="", note=""):
    rows.append((check, status, cpu, gpu, note))
    if status in ("FAIL", "MISSING"):
        bad.append(check)
    print(f"[{status}] {check}: cpu {cpu} | gpu {gpu} | {note}", flush=True)


def sh(cmd, env=None, cwd=None):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    return p, time.perf_counter() - t0


missing = [m for m in ("numpy", "h5py", "pyFAI", "cwltool", "panosc_cwl") if importlib.util.find_spec(m) is None]
if missing:
    row("environment", "MISSING", note=f"not importable: {', '.join(missing)} (carry them or use a prepared venv)")
pcwl = [shutil.which("panosc-cwl") or "panosc-cwl"]
cwltool = [str(Path(sys.executable).parent / "cwltool") if (Path(sys.executable).parent / "cwltool").exists()
           else (shutil.which("cwltool") or "cwltool")]

# 1. pyFAI OpenCL vs CPU ------------------------------------------------------------------------
try:
    data = out / "ceo2"
    p, _ = sh(pcwl + ["powder", "simulate", "--calibrant", "CeO2", "--frames", str(n_frames), "-o", str(data),
                      "--overwrite"])
    if p.returncode:
        raise RuntimeError(p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "simulate failed")
    import h5py
    import pyFAI
    from pyFAI.opencl import ocl

    from panosc_cwl.integrate import usable_method

    frames = h5py.File(data / "ceo2.h5", "r")["/entry/data/data"][()]
    ai = pyFAI.load(str(data / "ceo2.poni"))
    kw = dict(unit="2th_deg", dummy=-1, delta_dummy=0.5, error_model="poisson")
    gpu_dev = None
    if ocl is not None:
        for ip, plat in enumerate(ocl.platforms):
            for idev, dev in enumerate(plat.devices):
                if dev.type == "GPU" and gpu_dev is None:
                    gpu_dev = (ip, idev, f"{plat.name} / {dev.name}")
    if gpu_dev is None:
        row("pyFAI OpenCL", "FAIL", note="no OpenCL GPU device (pyopencl + the NVIDIA ICD needed); "
            f"platforms: {[p.name for p in ocl.platforms] if ocl else 'none'}")
    else:
        m = usable_method(("bbox", "csr", "opencl"))
        if m[2] != "opencl":
            row("pyFAI OpenCL", "FAIL", note=f"panosc-cwl's usable_method fell back to {m}")
        res = {}
        for name, method in (("cpu", ("bbox", "csr", "cython")), ("gpu", ("bbox", "csr", "opencl"))):
            ai.reset()
            first = ai.integrate1d(frames[0], 2000, method=method, **kw)  # builds the tables / uploads them
            t0 = time.perf_counter()
            stack = [ai.integrate1d(f, 2000, method=method, **kw).intensity for f in frames]
            res[name] = (len(frames) / (time.perf_counter() - t0), np.array(stack), first.method)
        used = res["gpu"][2]
        on_gpu = used.impl_lower == "opencl" and used.target is not None and \
            ocl.platforms[used.target[0]].devices[used.target[1]].type == "GPU"
        diff = float(np.nanmax(np.abs(res["gpu"][1] - res["cpu"][1])) / np.nanmax(np.abs(res["cpu"][1])))
        ok = on_gpu and diff < 1e-3
        row("pyFAI integrate1d", "PASS" if ok else "FAIL", f"{res['cpu'][0]:.1f} frames/s",
            f"{res['gpu'][0]:.1f} frames/s", f"{gpu_dev[2]}; engine {used}; max|diff|/max {diff:.1e}"
            + ("" if on_gpu else " -- OpenCL engine NOT on the GPU"))
except Exception as exc:  # noqa: BLE001  (reported in the table)
    row("pyFAI integrate1d", "FAIL", note=f"{type(exc).__name__}: {exc}")

# 2. PyNX CDI ------------------------------------------------------------------------------------
if shutil.which("pynx-cdi-id01") is None:
    row("PyNX CDI", "MISSING", note="pynx-cdi-id01 not installed (PyNX is not on PyPI: Debian python3-pynx)")
else:
    cdi = out / "cdi"
    cdi.mkdir(exist_ok=True)
    p, _ = sh(pcwl + ["cdi", "simulate", "--shape", "128", "128", "--photons", "1e9", "--seed", "0",
                      "-o", str(cdi / "obj2d.cxi"), "--overwrite"])
    got = {}
    for pu in ("cpu", "cuda"):
        wd = cdi / pu
        wd.mkdir(exist_ok=True)
        p, secs = sh(["pynx-cdi-id01", "--data", str(cdi / "obj2d.cxi"), "--roi", "0", "128", "0", "128",
                      "--nb_raar", "1000", "--nb_er", "300", "--nb_run", "4", "--nb_run_keep", "1",
                      "--support_threshold", "0.3", "--output_format", "cxi", "--save", "final"],
                     env=dict(os.environ, PYNX_PU=pu, MPLBACKEND="Agg"), cwd=wd)
        recs = sorted(wd.glob("*_LLK*.cxi"))
        log = p.stdout + p.stderr
        if p.returncode or not recs:
            got[pu] = (None, secs, (log.strip().splitlines() or ["no output"])[-1][:200])
            continue
        e, _ = sh(pcwl + ["cdi", "error", str(recs[0]), "--truth", str(cdi / "obj2d.cxi")])
        err = json.loads(e.stdout)["error"] if e.returncode == 0 else float("nan")
        got[pu] = (err, secs, pu)  # PyNX does not fall back by itself: PYNX_PU=cuda without CUDA fails
    c, g = got.get("cpu"), got.get("cuda")
    ok = g is not None and g[0] is not None and c is not None and c[0] is not None and g[0] < max(2 * c[0], 0.05)
    row("PyNX CDI 2D 128^2", "PASS" if ok else "FAIL",
        f"error {c[0]:.4f}, {c[1]:.1f} s" if c and c[0] is not None else f"failed: {c[2] if c else ''}",
        f"error {g[0]:.4f}, {g[1]:.1f} s" if g and g[0] is not None else f"failed: {g[2] if g else ''}",
        "PYNX_PU=cuda vs cpu, 1000 RAAR + 300 ER x 4 runs")

# 3. nabu GPU vs our CPU path --------------------------------------------------------------------
try:
    from panosc_cwl import tomo

    tb = out / "tomo"
    p, _ = sh(pcwl + ["tomo", "simulate", "-o", str(tb), "--overwrite"])
    p2, _ = sh(pcwl + ["tomo", "config", "--dataset", str(tb / "tomo.nx"), "--cor-method", "sliding-window",
                       "--phase", "none", "--location", str(tb), "-o", str(tb / "nabu.conf"), "--overwrite"])
    if p.returncode or p2.returncode:
        raise RuntimeError((p.stderr + p2.stderr).strip()[-300:])
    backend = tomo.nabu_fbp_backend()
    res = {}
    for name, be in (("cpu", "cpu"), ("gpu", "auto")):
        r, secs = sh(pcwl + ["tomo", "reconstruct", str(tb / "nabu.conf"), "--backend", be,
                             "-o", str(tb / f"rec-{name}.h5"), "--overwrite"])
        if r.returncode:
            raise RuntimeError(f"{name}: {r.stderr.strip()[-300:]}")
        s, _ = sh(pcwl + ["tomo", "score", str(tb / f"rec-{name}.h5"), "--truth", str(tb / "tomo_truth.json")])
        sc = json.loads(s.stdout)
        res[name] = (sc["cor"], float(np.mean(sc["pearson_r"])), secs)
    # our CLI prints nothing about the back end: ask the library which one "auto" took
    took = "nabu" if backend is not None else "cpu"
    ok = took == "nabu" and abs(res["gpu"][0] - res["cpu"][0]) <= 0.5 and res["gpu"][1] > 0.9
    row("nabu reconstruction", "PASS" if ok else "FAIL",
        f"CoR {res['cpu'][0]:.2f}, r {res['cpu'][1]:.4f}, {res['cpu'][2]:.1f} s",
        f"CoR {res['gpu'][0]:.2f}, r {res['gpu'][1]:.4f}, {res['gpu'][2]:.1f} s",
        f"nabu back end: {backend or 'none -> CPU path (silent fallback)'}")
except Exception as exc:  # noqa: BLE001
    row("nabu reconstruction", "FAIL", note=f"{type(exc).__name__}: {exc}")

# 4. GPU-hinted CWL tools through cwltool with the real nvidia-smi --------------------------------
cw = out / "cwl"
cw.mkdir(exist_ok=True)
base = cwltool + ["--enable-ext", "--quiet", "--disable-color", "--preserve-environment", "PYTHONPATH"]
jobs = {
    "pyfai-integrate1d-gpu.cwl": {"frames": [{"class": "File", "path": str(out / "ceo2/ceo2.h5")}],
                                  "dataset": "/entry/data/data", "npt": 2000, "unit": "2th_deg",
                                  "poni": {"class": "File", "path": str(out / "ceo2/ceo2.poni")}},
    "nabu-reconstruct.cwl": {"config": {"class": "File", "path": str(out / "tomo/nabu.conf")},
                             "dataset": {"class": "File", "path": str(out / "tomo/tomo.nx")}, "backend": "auto"},
}
if shutil.which("pynx-cdi-id01"):
    jobs["pynx-cdi.cwl"] = {"data": {"class": "File", "path": str(out / "cdi/obj2d.cxi")}, "roi": [0, 128, 0, 128],
                            "nb_run": 1, "processing_unit": "cuda"}
for tool, job in jobs.items():
    jf = cw / f"{tool}.json"
    jf.write_text(json.dumps(job))
    od = cw / tool.replace(".cwl", "")
    p, secs = sh(base + ["--outdir", str(od), str(repo / "cwl/tools" / tool), str(jf)])
    if p.returncode:
        lines = [ln.strip() for ln in p.stderr.splitlines() if ln.strip()] or ["?"]
        said = [ln for ln in lines if "Could not" in ln or "rror" in ln] or lines
        row(f"cwltool {tool}", "FAIL", gpu=f"{secs:.1f} s", note=said[-1][:200])
        continue
    note = ""
    if tool.startswith("pyfai"):
        import h5py

        f = next(od.glob("*.nxs"), None)
        if f is None:
            row(f"cwltool {tool}", "FAIL", gpu=f"{secs:.1f} s", note="no NeXus output")
            continue
        with h5py.File(f, "r") as h5:
            meth = str(h5["entry/reduction/input/method"][()])
        note = f"method recorded: {meth}"
        if "opencl" not in meth.lower():
            row(f"cwltool {tool}", "FAIL", gpu=f"{secs:.1f} s", note=note + " -- fell back to the CPU")
            continue
    row(f"cwltool {tool}", "PASS", gpu=f"{secs:.1f} s", note=note or "CUDARequirement satisfied by nvidia-smi")

print("\n| check | status | CPU | GPU | note |\n|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(str(x) for x in r) + " |")
(out / "gpu_check.json").write_text(json.dumps(rows, indent=1))
sys.exit(1 if bad else 0)
PYEOF
rc=$?
if [ "$rc" = 0 ]; then
  echo "gpu_check: all passed in $(( $(date +%s) - START )) s; outputs in $OUT"
else
  echo "gpu_check: FAILED (see the FAIL/MISSING rows above) after $(( $(date +%s) - START )) s; outputs in $OUT" >&2
fi
exit $rc
