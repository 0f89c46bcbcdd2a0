#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
id: powder-xrd
label: "Powder X-ray diffraction: integrate, reduce, plot"
doc: |
  The standard reduction of a powder-diffraction measurement (ESRF-style, with pyFAI):
  every frame of the stack is azimuthally integrated in one step, the patterns are reduced
  (mean and sum, per-frame totals), and the mean pattern is plotted with the calibrant's
  expected reflections marked so a wrong geometry shows at a glance.
  Run: `cwltool cwl/workflows/powder-xrd.cwl jobs/powder-xrd-ceo2.yml`
  or `toil-cwl-runner cwl/workflows/powder-xrd.cwl jobs/powder-xrd-ceo2.yml`
  or `panosc-cwl run cwl/workflows/powder-xrd.cwl jobs/powder-xrd-ceo2.yml`.
$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"
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
  calibrant:
    type: string?
    label: Calibrant
    doc: pyFAI calibrant whose reflections are marked on the plot (CeO2, LaB6, Si ...).
outputs:
  integrated:
    format: edam:format_3590
    type: File
    label: Integrated patterns
    doc: NeXus file with I[frame, radial].
    outputSource: integrate/integrated
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
  report:
    format: edam:format_2331
    type: File
    label: Report (HTML)
    doc: The powder-report notebook rendered as HTML - pattern, peaks found vs the calibrant's reflections.
    outputSource: make_report/report
  report_notebook:
    format: edam:format_3464
    type: File
    label: Report notebook
    doc: The executed powder-report notebook (papermill).
    outputSource: make_report/executed_notebook
  peaks:
    format: edam:format_3752
    type: File
    label: Peak table (CSV)
    doc: Expected and found position of every calibrant reflection in range (header only without a calibrant).
    outputSource: make_report/peaks
steps:
  integrate:
    label: Azimuthal integration of every frame
    run: ../tools/pyfai-integrate1d.cwl
    in:
      frames: frames
      dataset: dataset
      poni: poni
      npt: npt
      unit: unit
      polarization_factor: polarization_factor
      mask: mask
    out: [integrated]
  reduce:
    label: Mean/sum pattern, per-frame totals
    run: ../tools/powder-reduce.cwl
    in:
      integrated: integrate/integrated
    out: [reduced]
  plot_pattern:
    label: Plot with calibrant reflections
    run: ../tools/powder-plot.cwl
    in:
      reduced: reduce/reduced
      calibrant: calibrant
    out: [plot]
  make_report:
    label: Report notebook (papermill)
    run: ../tools/nb-powder-report.cwl
    in:
      reduced: reduce/reduced
      calibrant: calibrant
    out: [report, executed_notebook, peaks]
