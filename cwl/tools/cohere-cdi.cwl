#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: cohere-cdi
label: "cohere-core: coherent diffraction imaging (pip-only fallback of PyNX)"
doc: |
  Phase retrieval with Argonne's cohere-core (API only; it has no command line) through
  `panosc-cwl cdi reconstruct-cohere`, with the inputs and outputs of the pynx-cdi tool:
  the same data files, ROI, support threshold, RAAR/HIO/ER counts, runs and runs kept, and CXI
  (`/entry_1/image_1/data`) or NPZ (`obj`) results. cohere wants centred amplitudes (the
  square root of the intensity) and returns the complex conjugate of the object in numpy's FFT
  convention: both are handled here. Runs are ranked by cohere's own error metric (rank01 best).
  cohere's RAAR converged less well than its HIO on our simulated data: the defaults use HIO.
  Runs on the CPU (numpy), so it has no GPU hint.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, cdi, reconstruct-cohere, --outdir, .]
hints:
  SoftwareRequirement:
    packages:
      cohere-core:
        version: [">=4.5,<5"]
        specs: ["https://pypi.org/project/cohere-core/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
  ResourceRequirement:
    coresMin: 1
    ramMin: 2048
inputs:
  data:
    format: edam:format_3590
    type: File
    label: Diffraction data
    doc: Centred diffraction intensity, CXI (/entry_1/instrument_1/detector_1/data) or .npy, 2D or 3D.
    inputBinding: {prefix: --data, position: 1}
  roi:
    type: int[]?
    label: Region of interest
    doc: start/end per axis, as pynx-cdi-id01 --roi (ymin ymax xmin xmax ...); omit for the whole frame.
    inputBinding: {prefix: --roi, position: 2}
  support_threshold:
    type: float
    default: 0.2
    label: Support threshold
    doc: Shrink-wrap threshold relative to the maximum of the Gaussian-smoothed amplitude (0-1).
    inputBinding: {prefix: --support-threshold, position: 3}
  nb_raar:
    type: int
    default: 0
    label: RAAR iterations
    doc: RAAR iterations (first in the chain).
    inputBinding: {prefix: --nb-raar, position: 4}
  nb_hio:
    type: int
    default: 600
    label: HIO iterations
    doc: Hybrid input-output iterations (after RAAR).
    inputBinding: {prefix: --nb-hio, position: 5}
  nb_er:
    type: int
    default: 200
    label: ER iterations
    doc: Error-reduction iterations (last).
    inputBinding: {prefix: --nb-er, position: 6}
  nb_run:
    type: int
    default: 4
    label: Number of runs
    doc: Independent reconstructions from random starts.
    inputBinding: {prefix: --nb-run, position: 7}
  nb_run_keep:
    type: int
    default: 1
    label: Runs kept
    doc: How many of the best runs (cohere's error metric) are written.
    inputBinding: {prefix: --nb-run-keep, position: 8}
  output_format:
    type:
      type: enum
      name: cohere_output_format
      symbols: [cxi, npz]
    default: cxi
    label: Output format
    doc: cxi (HDF5/NeXus, complex object plus amplitude and phase NXdata) or npz ('obj').
    inputBinding: {prefix: --output-format, position: 9}
  seed:
    type: int?
    label: Random seed
    doc: Seed of the random starting guesses (for reproducible runs).
    inputBinding: {prefix: --seed, position: 10}
outputs:
  reconstructions:
    format: edam:format_2333  # CXI (HDF5) or NPZ, as output_format says
    type: File[]
    label: Reconstructions
    doc: The kept runs, best first (NAME-cohere_rankRR_RunNNNN.cxi/npz).
    outputBinding: {glob: "*-cohere_rank*.$(inputs.output_format)"}
  best:
    format: edam:format_2333  # CXI (HDF5) or NPZ, as output_format says
    type: File
    label: Best reconstruction
    doc: The run with the lowest error metric.
    outputBinding: {glob: "*-cohere_rank01_*.$(inputs.output_format)"}
