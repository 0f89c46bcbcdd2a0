#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
id: detector-calibration
label: "Detector dark calibration: darks -> constants -> corrected data, per module"
doc: |
  The dark calibration of a multi-module integrating detector, the way facilities run it as
  notebooks (European XFEL's xfel-calibrate style), each notebook a typed CWL step run by papermill:
  for every module in parallel (scatter), the dark-calibration notebook computes offset, noise and
  the bad-pixel mask from the dark run and writes a NeXus constants file; the correct notebook
  subtracts the offset from the module's data run and masks bad pixels. Every step also gives its
  executed notebook and HTML report (plots, tables): the reports of the run.
  `darks` and `data` hold one file per module, in the same module order.
  Data: `panosc-cwl detector simulate --modules 4 -o data/detector`; run:
  `cwltool cwl/workflows/detector-calibration.cwl jobs/detector-calibration.yml`
  (or `toil-cwl-runner ...`, or `panosc-cwl run ...`).
  `detector-calibration-simulated.cwl` simulates the runs first.
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
  StepInputExpressionRequirement: {}
hints:
  SoftwareRequirement:
    packages:
      papermill:
        version: [">=2.6"]
        specs: ["https://pypi.org/project/papermill/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
inputs:
  darks:
    format: edam:format_3590
    type: File[]
    label: Dark runs
    doc: One HDF5 file of dark frames per module (frames in `dataset`).
  data:
    format: edam:format_3590
    type: File[]
    label: Data runs
    doc: One HDF5 file of data frames per module, same module order as `darks`.
  dataset:
    type: string
    default: /entry/data/data
    label: HDF5 dataset path
    doc: Path of the frames inside the dark and data files.
  offset_sigma:
    type: float
    default: 5.0
    label: Offset threshold
    doc: Pixels whose offset is further than this many robust standard deviations from the module median are bad.
  noise_low:
    type: float
    default: 0.2
    label: Dead-pixel threshold
    doc: Pixels with noise below this fraction of the median noise are dead.
  noise_high:
    type: float
    default: 3.0
    label: Noisy-pixel threshold
    doc: Pixels with noise above this multiple of the median noise are noisy.
outputs:
  constants:
    format: edam:format_3590
    type: File[]
    label: Dark constants
    doc: NeXus constants (offset, noise, bad pixels) of each module.
    outputSource: calibrate/constants
  corrected:
    format: edam:format_3590
    type: File[]
    label: Corrected data
    doc: Offset-corrected frames of each module (float32 ADU, bad pixels NaN).
    outputSource: correct/corrected
  calibration_reports:
    format: edam:format_2331
    type: File[]
    label: Dark-calibration reports
    doc: HTML report of each module's dark calibration (maps, histograms, bad-pixel counts).
    outputSource: calibrate/report
  correction_reports:
    format: edam:format_2331
    type: File[]
    label: Correction reports
    doc: HTML report of each module's correction (raw and corrected mean frames).
    outputSource: correct/report
steps:
  calibrate:
    label: Dark calibration of each module
    run: ../tools/nb-dark-calibration.cwl
    scatter: darks
    in:
      darks: darks
      dataset: dataset
      offset_sigma: offset_sigma
      noise_low: noise_low
      noise_high: noise_high
      output: {valueFrom: $(inputs.darks.nameroot)-constants.nxs}
      report_name: {valueFrom: $(inputs.darks.nameroot)-calibration}
    out: [constants, report, executed_notebook]
  correct:
    label: Offset correction of each module
    run: ../tools/nb-correct.cwl
    scatter: [data, constants]
    scatterMethod: dotproduct
    in:
      data: data
      constants: calibrate/constants
      dataset: dataset
      output: {valueFrom: $(inputs.data.nameroot)-corrected.h5}
      report_name: {valueFrom: $(inputs.data.nameroot)-correction}
    out: [corrected, report, executed_notebook]
