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
#   benchmarks/gpu_check.sh --fetch-wheels DIR [--python-version 3.12] [--target-has FILE]
#                                                      here, with a registry: download the wheels the checks
#                                                      need that the GPU machine lacks (pyFAI, silx, fabio,
#                                                      cwltool, nabu, pyopencl... at this venv's versions, for
#                                                      CPython X manylinux x86_64), less the packages FILE names
#                                                      (what the GPU machine already has); PyNX packed from
#                                                      .ci/install-pynx's Debian package. <= 64 MiB.
#   benchmarks/gpu_check.sh [--wheels DIR] [--python PY] [--frames N] [--out DIR]
#                                                      on the GPU machine (no internet): installs DIR's wheels
#                                                      (pip --no-index --no-deps --target) and *.tgz packages
#                                                      into a scratch site folder, then runs the checks
#   --force                                            run the checks without a GPU too (each must FAIL:
#                                                      that is how the fallback detection is tested)
# Environment: PYTHON (interpreter with numpy/scipy/h5py; default .venv/bin/python, else python3);
# GPU_CHECK_SITE (where --wheels installs; default /tmp/gpu-check-site).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRY=0; FORCE=0; FETCH=""; WHEELS=""; PYVER="3.12"; FRAMES=100; OUT=""; HAS=""
PY="${PYTHON:-}"
CARRY_LIMIT_MB=64
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --fetch-wheels) FETCH="${2:?--fetch-wheels needs a folder}"; shift ;;
    --python-version) PYVER="${2:?}"; shift ;;
    --target-has) HAS="${2:?--target-has needs a file}"; shift ;;
    --wheels) WHEELS="${2:?--wheels needs a folder}"; shift ;;
    --python) PY="${2:?}"; shift ;;
    --frames) FRAMES="${2:?}"; shift ;;
    --out) OUT="${2:?}"; shift ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: error: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$PY" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"; else PY="$(command -v python3 || echo python3)"; fi
fi

# ------------------------------------------------------------------ fetch mode (here, with a registry)
# What the checks import: pyFAI (+ silx, fabio, numexpr), pyopencl, cwltool (+ schema-salad, cwl-utils),
# nabu (+ tomoscan, nxtomo), PyNX's pure-Python needs (mako, pooch). numpy/scipy/h5py/matplotlib/
# scikit-image are expected on the GPU machine (name them in --target-has to leave them out).
GPU_STACK=(pyFAI fabio silx numexpr pyopencl cwltool cwl-utils schema-salad ruamel.yaml prov nabu tomoscan nxtomo
           mako pooch)
if [ -n "$FETCH" ]; then
  mkdir -p "$FETCH"
  PLAT=(--only-binary=:all: --implementation cp --python-version "$PYVER")
  for t in manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
    PLAT+=(--platform "${t}_x86_64")
  done
  # the versions this checkout is tested with (those installed in $PY), unpinned where absent
  mapfile -t SPECS < <("$PY" - "${GPU_STACK[@]}" <<'PYEOF'
import sys
from importlib.metadata import PackageNotFoundError, version
for name in sys.argv[1:]:
    try:
        print(f"{name}=={version(name)}")
    except PackageNotFoundError:
        print(name)
PYEOF
)
  echo "downloading for CPython $PYVER manylinux x86_64 into $FETCH: ${SPECS[*]}"
  "$PY" -m pip download -q "${PLAT[@]}" -d "$FETCH" "${SPECS[@]}" 2>&1 | grep -v "^WARNING: Location" || true
  ls "$FETCH"/pyopencl-*.whl >/dev/null 2>&1 || { echo "FAIL: no pyopencl wheel downloaded" >&2; exit 1; }
  # hdf5plugin (a 45 MB wheel, pulled in by silx) is left out: the checks' frames are gzip, HDF5's own
  # filter; --wheels puts a stub in its place and says so
  "$PY" - "$FETCH" "$HAS" <<'PYEOF'
import re, sys
from pathlib import Path
folder, has = Path(sys.argv[1]), sys.argv[2]
norm = lambda n: re.sub(r"[-_.]+", "-", n.lower())
drop = {"hdf5plugin"} | ({norm(x) for x in re.split(r"[\s,]+", Path(has).read_text()) if x} if has else set())
for w in sorted(folder.glob("*.whl")):
    if norm(w.name.split("-")[0]) in drop:
        w.unlink()
        print(f"  left out (on the GPU machine, or a stub there): {w.name}")
PYEOF
  DEB=$(ls "$REPO"/.venv/.pynx-apt/deb/python3-pynx_*.deb 2>/dev/null | head -n 1)
  if [ -n "$DEB" ]; then   # PyNX is not on PyPI: pack .ci/install-pynx's Debian package (pure Python for CDI)
    X=$(mktemp -d); dpkg-deb -x "$DEB" "$X"
    SRC=$(dirname "$(find "$X" -type d -name pynx -path '*-packages/pynx' | head -n 1)")
    tar -C "$SRC" --exclude='*.so' --exclude=__pycache__ -czf "$FETCH/pynx-debian.tgz" pynx \
      $(cd "$SRC" && ls -d [Pp]y[Nn][Xx]-*)
    rm -rf "$X"; echo "PyNX: packed from $(basename "$DEB") into pynx-debian.tgz"
  else
    echo "PyNX: no Debian package in .venv/.pynx-apt (run .ci/install-pynx): not carried"
  fi
  ls "$FETCH"/pyvkfft-*.whl >/dev/null 2>&1 || {
    echo "pyvkfft: no binary wheel on the registry (a 27 MB sdist); PyNX's and nabu's OpenCL back ends need it."
    echo "         Build one here (OpenCL headers and ocl-icd-opencl-dev needed) and put it in $FETCH:"
    echo "         VKFFT_BACKEND=opencl pip wheel --no-deps --no-build-isolation pyvkfft && auditwheel repair pyvkfft-*.whl"; }
  echo "cupy, pycuda: not carried (cupy's wheel is over 100 MB; pycuda is an sdist needing nvcc):"
  echo "              nabu's CUDA back end uses the GPU machine's own cupy; PyNX's CUDA one needs pycuda"
  size=$(du -sm "$FETCH" | cut -f1)
  echo "$(ls "$FETCH" | wc -l) files, ${size} MiB in $FETCH (limit ${CARRY_LIMIT_MB} MiB for the device tool's carry)"
  [ "$size" -le "$CARRY_LIMIT_MB" ] || { echo "FAIL: wheels exceed ${CARRY_LIMIT_MB} MiB" >&2; exit 1; }
  exit 0
fi

# ------------------------------------------------------------------ dry mode / no GPU
HAVE_GPU=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then HAVE_GPU=1; fi
plan() {
  echo "GPU checks (python: $PY; wheels: ${WHEELS:-none}; frames: $FRAMES):"
  echo "  0. install DIR's wheels and packed packages (pip --no-index --no-deps --target \$GPU_CHECK_SITE);"
  echo "     point the OpenCL loader at the NVIDIA driver's libnvidia-opencl.so.1 where no ICD file names it"
  echo "  1. pyFAI integrate1d: OpenCL on the GPU device vs cython CSR on the CPU, same $FRAMES Pilatus-1M frames"
  echo "     (frames/s both; FAIL unless the engine ran on a GPU device and max |diff|/max(I) < 1e-3)"
  echo "  2. PyNX pynx-cdi-id01 2D CDI, PYNX_PU=cuda (pycuda) or opencl (pyvkfft) vs cpu: error vs truth, seconds"
  echo "  3. nabu reconstruction (its CUDA/OpenCL back-projector) vs our CPU path: CoR, Pearson r, seconds"
  echo "     (FAIL unless nabu itself reconstructed and the CoR is within 0.5 px of the CPU path's)"
  echo "  4. cwltool --enable-ext --overrides cwl/gpu-overrides.yml (CUDARequirement) with the real nvidia-smi:"
  echo "     pyfai-integrate1d-gpu.cwl (method recorded = opencl),"
  echo "     nabu-reconstruct.cwl (backend auto -> nabu), pynx-cdi.cwl (processing_unit cuda/opencl)"
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
  SITE="${GPU_CHECK_SITE:-/tmp/gpu-check-site}"
  mkdir -p "$SITE/bin"
  echo "installing $(ls "$WHEELS"/*.whl | wc -l) wheels from $WHEELS into $SITE (--no-index --no-deps)"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
    "$WHEELS"/*.whl 2>&1 | grep -v "^WARNING: Target directory" || true
  for t in "$WHEELS"/*.tgz; do [ -e "$t" ] && tar -C "$SITE" -xzf "$t" && echo "unpacked $(basename "$t")"; done
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  export PATH="$SITE/bin:$PATH"
  # console scripts of unpacked packages (PyNX's pynx-cdi-id01) from their entry_points.txt
  "$PY" - "$SITE" <<'PYEOF'
import configparser, sys
from pathlib import Path
site = Path(sys.argv[1])
for ep in site.glob("*.dist-info/entry_points.txt"):
    cp = configparser.ConfigParser(); cp.optionxform = str; cp.read(ep)
    for name, target in (cp["console_scripts"].items() if cp.has_section("console_scripts") else []):
        script = site / "bin" / name
        if not script.exists():
            mod, func = target.split(":")
            script.write_text(f"#!{sys.executable}\nimport sys\nfrom {mod} import {func.split('.')[0]}\n"
                              f"sys.exit({func}())\n")
            script.chmod(0o755)
PYEOF
  if ! "$PY" -c "import hdf5plugin" 2>/dev/null; then
    mkdir -p "$SITE/hdf5plugin"
    printf '"""Stub: hdf5plugin not carried to this GPU machine (45 MB); no compressed-frame filters."""\n' \
      > "$SITE/hdf5plugin/__init__.py"
    echo "NOTE: hdf5plugin not carried: a stub registers no filters (the checks' frames are gzip, HDF5's own)"
  fi
fi
# OpenCL on NVIDIA: pyopencl's wheel brings its own ICD loader; containers mount the driver's
# libnvidia-opencl.so.1 without /etc/OpenCL/vendors/nvidia.icd, so name it in a folder of our own
if [ -z "${OCL_ICD_VENDORS:-}" ] && ! grep -qs nvidia /etc/OpenCL/vendors/*.icd; then
  LIBCL=$( (ldconfig -p 2>/dev/null | awk '/libnvidia-opencl\.so\.1/ {print $NF}';
            find /usr/local/nvidia /usr/lib/x86_64-linux-gnu /usr/lib64 -name 'libnvidia-opencl.so.1' 2>/dev/null) | head -n 1)
  if [ -n "$LIBCL" ]; then
    mkdir -p "$OUT/icd"; echo "$LIBCL" > "$OUT/icd/nvidia.icd"; export OCL_ICD_VENDORS="$OUT/icd"
    echo "OpenCL: NVIDIA ICD $LIBCL (OCL_ICD_VENDORS=$OUT/icd)"
  else
    echo "OpenCL: no /etc/OpenCL/vendors/*.icd names NVIDIA and no libnvidia-opencl.so.1 found"
  fi
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/GPU: /'
"$PY" -c "import sys, numpy; print('python', sys.version.split()[0], '| numpy', numpy.__version__)"
# panosc-cwl from this checkout (also for cwltool's steps: a shim on PATH, PYTHONPATH preserved)
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
SHIM="$OUT/bin"; mkdir -p "$SHIM"
printf '#!/bin/sh\nexec %s -m panosc_cwl "$@"\n' "$PY" > "$SHIM/panosc-cwl"; chmod +x "$SHIM/panosc-cwl"
export PATH="$SHIM:$(dirname "$PY"):$PATH"
"$PY" - "$REPO" "$OUT" "$FRAMES" <<'PYEOF'
import importlib.util, json, os, shutil, subprocess, sys, time
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

gpu_dev = None  # (platform, device, "platform / device") of the first OpenCL GPU, found in check 1
nabu_dev = None  # the GPU nabu's back end uses, found in check 3
# PyNX's GPU unit: CUDA needs pycuda; OpenCL pyopencl + pyvkfft (PyNX skips CPU OpenCL devices)
gpu_pu = "cuda" if importlib.util.find_spec("pycuda") else \
    ("opencl" if importlib.util.find_spec("pyvkfft") and importlib.util.find_spec("pyopencl") else "cuda")


def path_ran(stderr):
    """What `panosc-cwl tomo reconstruct` reports it ran ("nabu: centre of rotation ..." or "cpu ..."), or "?"."""
    said = [ln.strip() for ln in stderr.splitlines() if "centre of rotation" in ln]
    return said[-1] if said else "?"

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
    for pu in ("cpu", gpu_pu):
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
        # PyNX does not fall back by itself: PYNX_PU=cuda/opencl without such a GPU fails; its log names the device
        dev = [ln.strip() for ln in log.splitlines() if "GPU" in ln or "device" in ln.lower()]
        got[pu] = (err, secs, dev[0][:120] if dev else pu)
    c, g = got.get("cpu"), got.get(gpu_pu)
    ok = g is not None and g[0] is not None and c is not None and c[0] is not None and g[0] < max(2 * c[0], 0.05)
    row("PyNX CDI 2D 128^2", "PASS" if ok else "FAIL",
        f"error {c[0]:.4f}, {c[1]:.1f} s" if c and c[0] is not None else f"failed: {c[2] if c else ''}",
        f"error {g[0]:.4f}, {g[1]:.1f} s" if g and g[0] is not None else f"failed: {g[2] if g else ''}",
        f"PYNX_PU={gpu_pu} vs cpu, 1000 RAAR + 300 ER x 4 runs" + (f"; {g[2]}" if g and g[0] is not None else ""))

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
    # the device nabu's back end would use: a CPU OpenCL device (PoCL) is no GPU
    if backend == "cuda" and importlib.util.find_spec("cupy"):
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() > 0:
                nabu_dev = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
        except Exception:  # noqa: BLE001  (no usable CUDA: nabu_dev stays None)
            pass
    elif backend == "opencl" and gpu_dev is not None:
        nabu_dev = gpu_dev[2]
    res = {}
    for name, be in (("cpu", "cpu"), ("gpu", "auto")):
        r, secs = sh(pcwl + ["tomo", "reconstruct", str(tb / "nabu.conf"), "--backend", be,
                             "-o", str(tb / f"rec-{name}.h5"), "--overwrite"])
        if r.returncode:
            raise RuntimeError(f"{name}: {r.stderr.strip()[-300:]}")
        res[f"{name}-path"] = path_ran(r.stderr).split(":")[0]
        s, _ = sh(pcwl + ["tomo", "score", str(tb / f"rec-{name}.h5"), "--truth", str(tb / "tomo_truth.json")])
        sc = json.loads(s.stdout)
        res[name] = (sc["cor"], float(np.mean(sc["pearson_r"])), secs)
    took = res["gpu-path"]  # what `tomo reconstruct --backend auto` says it ran: nabu itself or our CPU path
    ok = took == "nabu" and nabu_dev is not None and abs(res["gpu"][0] - res["cpu"][0]) <= 0.5 and res["gpu"][1] > 0.9
    row("nabu reconstruction", "PASS" if ok else "FAIL",
        f"CoR {res['cpu'][0]:.2f}, r {res['cpu'][1]:.4f}, {res['cpu'][2]:.1f} s",
        f"CoR {res['gpu'][0]:.2f}, r {res['gpu'][1]:.4f}, {res['gpu'][2]:.1f} s",
        f"auto ran: {took}; nabu back end: {backend or 'none'} on {nabu_dev or 'no GPU'}"
        + ("" if took == "nabu" else " -> CPU path (silent fallback)"))
except Exception as exc:  # noqa: BLE001
    row("nabu reconstruction", "FAIL", note=f"{type(exc).__name__}: {exc}")

# 4. GPU-hinted CWL tools through cwltool with the real nvidia-smi --------------------------------
cw = out / "cwl"
cw.mkdir(exist_ok=True)
base = cwltool + ["--enable-ext", "--quiet", "--disable-color", "--overrides", str(repo / "cwl/gpu-overrides.yml"),
                  "--preserve-environment", "PYTHONPATH"]
if os.environ.get("OCL_ICD_VENDORS"):
    base += ["--preserve-environment", "OCL_ICD_VENDORS"]
EDAM = "http://edamontology.org/"
HDF5, TEXT = EDAM + "format_3590", EDAM + "format_2330"  # cwltool checks the formats the tools declare
jobs = {
    "pyfai-integrate1d-gpu.cwl": {"frames": [{"class": "File", "path": str(out / "ceo2/ceo2.h5"), "format": HDF5}],
                                  "dataset": "/entry/data/data", "npt": 2000, "unit": "2th_deg",
                                  "poni": {"class": "File", "path": str(out / "ceo2/ceo2.poni"), "format": TEXT}},
    "nabu-reconstruct.cwl": {"config": {"class": "File", "path": str(out / "tomo/nabu.conf"), "format": TEXT},
                             "dataset": {"class": "File", "path": str(out / "tomo/tomo.nx"), "format": HDF5},
                             "backend": "auto"},
}
if shutil.which("pynx-cdi-id01"):
    jobs["pynx-cdi.cwl"] = {"data": {"class": "File", "path": str(out / "cdi/obj2d.cxi"), "format": HDF5},
                            "roi": [0, 128, 0, 128],
                            "nb_run": 1,
                            "processing_unit": gpu_pu}
for tool, job in jobs.items():
    jf = cw / f"{tool}.json"
    jf.write_text(json.dumps(job))
    od = cw / tool.replace(".cwl", "")
    p, secs = sh(base + ["--outdir", str(od), str(repo / "cwl/tools" / tool), str(jf)])
    if p.returncode:
        lines = [ln.strip() for ln in p.stderr.splitlines() if ln.strip()] or ["?"]
        # cwltool's own reason: the "Could not satisfy" line, else what follows its "Workflow error" line
        said = [ln for ln in lines if "Could not" in ln] or \
            [ln for i, ln in enumerate(lines) if i and "Workflow error" in lines[i - 1]] or lines
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
            meth = h5["entry/reduction/input/method"][()]
        meth = meth.decode() if isinstance(meth, bytes) else str(meth)
        note = f"method recorded: {meth}"
        # OpenCL on the GPU that check 1 found, not on a CPU OpenCL device
        if "opencl" not in meth.lower() or gpu_dev is None or gpu_dev[2].split(" / ")[-1] not in meth:
            row(f"cwltool {tool}", "FAIL", gpu=f"{secs:.1f} s", note=note + " -- not on the GPU")
            continue
    if tool.startswith("nabu"):
        ran = path_ran(p.stderr)  # the step's own report
        note = f"step: {ran}"
        if not ran.startswith("nabu:") or nabu_dev is None:
            row(f"cwltool {tool}", "FAIL", gpu=f"{secs:.1f} s", note=note + " -- not nabu on a GPU")
            continue
        # the step's one output file, alone in the outdir, against the phantom (a copy of nabu's master
        # file without its chunk files reads as zeros)
        sc, _ = sh(pcwl + ["tomo", "score", str(od / "reconstruction.h5"), "--truth", str(out / "tomo/tomo_truth.json")])
        r_min = min(json.loads(sc.stdout)["pearson_r"]) if sc.returncode == 0 else float("nan")
        note += f"; output r_min {r_min:.4f}"
        if not r_min > 0.9:
            row(f"cwltool {tool}", "FAIL", gpu=f"{secs:.1f} s", note=note + " -- output is not the phantom")
            continue
    row(f"cwltool {tool}", "PASS", gpu=f"{secs:.1f} s", note=f"CUDARequirement satisfied by nvidia-smi; {note}")

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
