#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
id: powder-xrd-scatter
label: "Powder X-ray diffraction, integration scattered over frame chunks"
doc: |
  The powder-xrd workflow with the integration split into frame chunks that run as separate
  jobs (separate SLURM jobs under `toil-cwl-runner --batchSystem slurm`): each chunk of
  `frame_ranges` is integrated by pyfai-integrate1d-chunk, powder-merge joins the chunks in frame
  order into one stack file (identical to an unscattered integration), then the same reduce and
  plot steps as powder-xrd run. The chunks are listed in the job file (no JavaScript needed).
  Run: `panosc-cwl run cwl/workflows/powder-xrd-scatter.cwl jobs/powder-xrd-ceo2-scatter.yml
  --runner toil --batch-system slurm --profile generic`.
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
  ScatterFeatureRequirement: {}
hints:
  SoftwareRequirement:
    packages:
      pyFAI:
        version: [">=2024.1,<2027"]
        specs: ["https://pypi.org/project/pyFAI/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
inputs:
  frames:
    format: ["edam:format_3590", "edam:format_3591", "edam:format_2333"]
    type: File[]
    label: Detector frames
    doc: HDF5/NeXus stack(s) (with `dataset`) or EDF/TIFF frames.
  dataset:
    type: string?
    label: HDF5 dataset path
    doc: Path of the frames inside HDF5 inputs, e.g. /entry/data/data.
  poni:
    format: edam:format_2330
    type: File
    label: Geometry (PONI)
    doc: pyFAI PONI geometry file (detector, distance, beam centre, wavelength).
  npt:
    type: int
    default: 2000
    label: Radial bins
    doc: Number of radial bins.
  unit:
    type:
      type: enum
      name: radial_unit
      symbols: [2th_deg, q_nm^-1, q_A^-1, r_mm]
    default: 2th_deg
    label: Radial unit
    doc: Unit of the radial axis.
  polarization_factor:
    type: float?
    label: Polarization factor
    doc: Between -1 and 1; omit for no correction.
  mask:
    format: ["edam:format_3590", "edam:format_3591", "edam:format_4003", "edam:format_2333"]
    type: File?
    label: Mask
    doc: Optional mask image (non-zero = excluded).
  frame_ranges:
    type: string[]
    label: Frame chunks
    doc: One START:STOP per chunk (0-based, STOP excluded, counted over all inputs), e.g. [0:5, 5:10, 10:15, 15:20]; each chunk is one job.
  calibrant:
    type: string?
    label: Calibrant
    doc: pyFAI calibrant whose reflections are marked on the plot (CeO2, LaB6, Si ...).
outputs:
  integrated:
    format: edam:format_3590
    type: File
    label: Integrated patterns
    doc: NeXus file with I[frame, radial] of all chunks, merged in frame order.
    outputSource: merge/integrated
  reduced:
    format: edam:format_3590
    type: File
    label: Reduced pattern
    doc: NeXus file with the mean/sum pattern and per-frame totals.
    outputSource: reduce/reduced
  plot:
    format: edam:format_3603
    type: File
    label: Pattern plot
    doc: PNG of the mean pattern with calibrant reflections.
    outputSource: plot_pattern/plot
steps:
  integrate:
    label: Azimuthal integration of one chunk of frames (scattered)
    run: ../tools/pyfai-integrate1d-chunk.cwl
    scatter: frame_range
    in:
      frame_range: frame_ranges
      frames: frames
      dataset: dataset
      poni: poni
      npt: npt
      unit: unit
      polarization_factor: polarization_factor
      mask: mask
    out: [integrated]
  merge:
    label: Join the chunks in frame order
    run: ../tools/powder-merge.cwl
    in:
      chunks: integrate/integrated
    out: [integrated]
  reduce:
    label: Mean/sum pattern, per-frame totals
    run: ../tools/powder-reduce.cwl
    in:
      integrated: merge/integrated
    out: [reduced]
  plot_pattern:
    label: Plot with calibrant reflections
    run: ../tools/powder-plot.cwl
    in:
      reduced: reduce/reduced
      calibrant: calibrant
    out: [plot]
