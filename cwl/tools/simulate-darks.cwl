#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: simulate-darks
label: Simulate dark and data runs of a multi-module detector
doc: |
  Writes, for every module of a simulated integrating pixel detector, a dark run (per-pixel
  pedestal + Gaussian electronic noise, with some hot and dead pixels) and a data run (the same
  pedestal and noise plus a diffraction ring of Poisson photons), as HDF5/NeXus files with the
  frames in `/entry/data/data` (uint16 ADU), and the truth of each module (pedestal, noise,
  bad-pixel bits, mean signal) to check calibrations against.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, detector, simulate, --outdir, .]
hints:
  SoftwareRequirement:
    packages:
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
      h5py:
        version: [">=3.9"]
        specs: ["https://pypi.org/project/h5py/"]
inputs:
  modules:
    type: int
    default: 4
    label: Modules
    doc: Number of detector modules.
    inputBinding: {prefix: --modules}
  module_shape:
    type: int[]
    default: [64, 64]
    label: Module shape
    doc: Pixels per module, rows then columns.
    inputBinding: {prefix: --module-shape}
  n_darks:
    type: int
    default: 50
    label: Dark frames
    doc: Dark frames per module.
    inputBinding: {prefix: --darks}
  n_frames:
    type: int
    default: 20
    label: Data frames
    doc: Data frames per module.
    inputBinding: {prefix: --frames}
  hot_fraction:
    type: float
    default: 0.005
    label: Hot-pixel fraction
    doc: Fraction of pixels whose offset is far too high.
    inputBinding: {prefix: --hot-fraction}
  dead_fraction:
    type: float
    default: 0.005
    label: Dead-pixel fraction
    doc: Fraction of pixels that always read 0.
    inputBinding: {prefix: --dead-fraction}
  seed:
    type: int
    default: 0
    label: Random seed
    doc: Seed of the random numbers (same seed, same files).
    inputBinding: {prefix: --seed}
outputs:
  darks:
    format: edam:format_3590
    type: File[]
    label: Dark runs
    doc: One HDF5 file per module, in module order (darks_mMM.h5).
    outputBinding: {glob: "darks_m*.h5"}
  data:
    format: edam:format_3590
    type: File[]
    label: Data runs
    doc: One HDF5 file per module, in module order (data_mMM.h5).
    outputBinding: {glob: "data_m*.h5"}
  truth:
    format: edam:format_3590
    type: File[]
    label: Simulation truth
    doc: Pedestal, noise, bad-pixel bits and mean signal of each module (truth_mMM.h5).
    outputBinding: {glob: "truth_m*.h5"}
