#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
id: cdi
label: "Coherent diffraction imaging: simulate, reconstruct (cohere-core), plot"
doc: |
  Simulates the diffraction pattern of a known complex object (or takes measured data), phases
  it with cohere-core on the CPU (the pip-only fallback of PyNX; swap the step's run for
  ../tools/pynx-cdi.cwl on a GPU cluster), and plots amplitude and phase, aligned to the truth
  with the normalised complex error when the data are simulated.
  Run: `cwltool cwl/workflows/cdi.cwl jobs/cdi-2d.yml` or `panosc-cwl run cwl/workflows/cdi.cwl jobs/cdi-2d.yml`.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"
requirements:
  StepInputExpressionRequirement: {}
hints:
  SoftwareRequirement:
    packages:
      cohere-core:
        version: [">=4.5,<5"]
        specs: ["https://pypi.org/project/cohere-core/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
inputs:
  shape:
    type: int[]
    default: [128, 128]
    label: Array shape
    doc: 2 or 3 sizes of the simulated diffraction array.
  photons:
    type: float
    default: 1.0e+9
    label: Total photons
    doc: Counts in the simulated pattern.
  seed:
    type: int
    default: 0
    label: Random seed
    doc: Seed of the simulated object and noise, and of the reconstruction's starts.
  support_threshold:
    type: float
    default: 0.2
    label: Support threshold
    doc: Shrink-wrap threshold (0-1).
  nb_raar:
    type: int
    default: 0
    label: RAAR iterations
    doc: RAAR iterations.
  nb_hio:
    type: int
    default: 600
    label: HIO iterations
    doc: HIO iterations.
  nb_er:
    type: int
    default: 200
    label: ER iterations
    doc: ER iterations.
  nb_run:
    type: int
    default: 4
    label: Number of runs
    doc: Reconstructions from random starts.
  output_format:
    type:
      type: enum
      name: cdi_output_format
      symbols: [cxi, npz]
    default: cxi
    label: Output format
    doc: Format of the reconstruction.
outputs:
  data:
    format: edam:format_3590
    type: File
    label: Simulated data (CXI)
    doc: Intensity and true object.
    outputSource: simulate/data
  reconstruction:
    format: edam:format_2333  # CXI (HDF5) or NPZ, as output_format says
    type: File
    label: Best reconstruction
    doc: The complex object (CXI /entry_1/image_1/data or NPZ obj).
    outputSource: reconstruct/best
  plot:
    format: edam:format_3603
    type: File
    label: Amplitude and phase (PNG)
    doc: Reconstruction aligned to the truth, beside the truth.
    outputSource: show/plot
  error:
    format: edam:format_3464
    type: File?
    label: Error vs truth (JSON)
    doc: Normalised complex error after removing shift, twin and global phase.
    outputSource: show/error
steps:
  simulate:
    label: Known object -> |FFT|^2 + Poisson noise
    run: ../tools/cdi-simulate.cwl
    in:
      shape: shape
      photons: photons
      seed: seed
    out: [data]
  reconstruct:
    label: Phase retrieval (cohere-core)
    run: ../tools/cohere-cdi.cwl
    in:
      data: simulate/data
      support_threshold: support_threshold
      nb_raar: nb_raar
      nb_hio: nb_hio
      nb_er: nb_er
      nb_run: nb_run
      nb_run_keep: {default: 1}
      output_format: output_format
      seed: seed
    out: [best, reconstructions]
  show:
    label: Amplitude and phase, compared with the truth
    run: ../tools/cdi-plot.cwl
    in:
      reconstruction: reconstruct/best
      truth: simulate/data
    out: [plot, error]
