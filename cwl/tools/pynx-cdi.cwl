#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: pynx-cdi
label: "PyNX: coherent diffraction imaging (pynx-cdi-id01)"
doc: |
  Phase retrieval of a coherent diffraction pattern with ESRF's PyNX (`pynx-cdi-id01`): a chain of
  RAAR, HIO and ER cycles with shrink-wrap support updates, repeated `nb_run` times from random
  starts; the `nb_run_keep` best runs (lowest free log-likelihood) are written as CXI or NPZ
  (complex object in `/entry_1/image_1/data`, or `obj` in the NPZ). File names carry a
  timestamp, the run number and the LLK; PyNX also makes a `latest.cxi` symlink, not collected.
  Defaults (1000 HIO + 300 ER, support threshold 0.3, 4 runs, best kept) converged in 29 of 30
  runs on our simulated 128^2 objects (error 0.002); 600 RAAR + 200 ER converged in about 1 run
  in 5 and then stagnated at errors of 0.03-0.07.
  Processing unit: `processing_unit` sets PYNX_PU (cuda on GPU nodes; cpu runs PyNX's numpy
  operators when no GPU is present; PyNX does not fall back by itself).
  Its GPU request (a cwltool:CUDARequirement) is in `../gpu-overrides.yml`, not here: cwltool 3.3
  checks that hint with `nvidia-smi` as if it were a requirement and would refuse the tool where
  there is no GPU. With `--overrides` (added by `panosc-cwl run` where a GPU can be had) Toil on
  SLURM requests one (`--gres=gpu:1`).
  PyNX is not on PyPI: `.ci/install-pynx` installs Debian trixie's python3-pynx 2025.1 into the
  project's venv.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [pynx-cdi-id01]
arguments:
  - {prefix: --save, valueFrom: final}
requirements:
  EnvVarRequirement:
    envDef:
      PYNX_PU: $(inputs.processing_unit)
      MPLBACKEND: Agg
hints:
  SoftwareRequirement:
    packages:
      pynx:
        version: [">=2025.1,<2026"]
        specs: ["https://pynx.esrf.fr/", "https://packages.debian.org/trixie/python3-pynx"]
  ResourceRequirement:
    coresMin: 1
    ramMin: 2048
inputs:
  data:
    format: ["edam:format_3590", "edam:format_4003", "edam:format_3591", "edam:format_2333"]
    type: File
    label: Diffraction data
    doc: |
      Centred diffraction intensity: CXI (`/entry_1/instrument_1/detector_1/data`, as written by
      `panosc-cwl cdi simulate`), .npy, .npz, .edf or .tif, 2D or 3D.
    inputBinding: {prefix: --data, position: 1}
  roi:
    type: int[]?
    label: Region of interest
    doc: |
      start/end per axis (ymin ymax xmin xmax, or zmin zmax ymin ymax xmin xmax). Give the full
      frame to keep the data centre where it is: without it, PyNX's id01 default ('auto')
      re-centres on the centre of mass, which adds a phase ramp to the object.
    inputBinding: {prefix: --roi, position: 2}
  support_threshold:
    type: float
    default: 0.3
    label: Support threshold
    doc: Shrink-wrap threshold, relative to the (smoothed) object's maximum amplitude (0-1).
    inputBinding: {prefix: --support_threshold, position: 3}
  nb_raar:
    type: int
    default: 0
    label: RAAR cycles
    doc: Number of relaxed averaged alternating reflections cycles (first in the chain).
    inputBinding: {prefix: --nb_raar, position: 4}
  nb_hio:
    type: int
    default: 1000
    label: HIO cycles
    doc: Number of hybrid input-output cycles (after RAAR).
    inputBinding: {prefix: --nb_hio, position: 5}
  nb_er:
    type: int
    default: 300
    label: ER cycles
    doc: Number of error-reduction cycles (last, to converge).
    inputBinding: {prefix: --nb_er, position: 6}
  nb_run:
    type: int
    default: 4
    label: Number of runs
    doc: Independent reconstructions from random starts.
    inputBinding: {prefix: --nb_run, position: 7}
  nb_run_keep:
    type: int
    default: 1
    label: Runs kept
    doc: How many of the best runs (lowest free LLK) are written.
    inputBinding: {prefix: --nb_run_keep, position: 8}
  output_format:
    type:
      type: enum
      name: pynx_output_format
      symbols: [cxi, npz]
    default: cxi
    label: Output format
    doc: cxi (HDF5 with the object, support and all parameters) or npz (the object as 'obj').
    inputBinding: {prefix: --output_format, position: 9}
  processing_unit:
    type:
      type: enum
      name: pynx_processing_unit
      symbols: [cpu, cuda, opencl]
    default: cpu
    label: Processing unit (PYNX_PU)
    doc: cuda on NVIDIA GPU nodes, opencl on other GPUs, cpu (numpy) where there is no GPU.
outputs:
  reconstructions:
    format: edam:format_2333  # CXI (HDF5) or NPZ, as output_format says
    type: File[]
    label: Reconstructions
    doc: The kept runs, LLK in the name (NAME-TIMESTAMP[_RunNNNN]_LLK..._SupportThreshold....cxi/npz).
    outputBinding: {glob: "*_LLK*.$(inputs.output_format)"}
  log:
    format: edam:format_2330
    type: stdout
    label: PyNX log
    doc: PyNX's console output (algorithm chain, LLK per cycle, timings).
stdout: pynx-cdi.log
