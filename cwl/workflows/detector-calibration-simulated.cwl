#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
id: detector-calibration-simulated
label: "Detector dark calibration of a simulated detector"
doc: |
  Simulates the dark and data runs of a multi-module detector (pedestal, noise, hot and dead
  pixels, known truth), then runs the detector-calibration workflow on them (dark-calibration and
  correct notebooks scattered over the modules). The truth files come out too, to check the
  constants against. Run: `cwltool cwl/workflows/detector-calibration-simulated.cwl
  jobs/detector-calibration-simulated.yml`.
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
  SubworkflowFeatureRequirement: {}
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
  modules:
    type: int
    default: 4
    label: Modules
    doc: Number of detector modules.
  module_shape:
    type: int[]
    default: [64, 64]
    label: Module shape
    doc: Pixels per module, rows then columns.
  n_darks:
    type: int
    default: 50
    label: Dark frames
    doc: Dark frames per module.
  seed:
    type: int
    default: 0
    label: Random seed
    doc: Seed of the simulation.
outputs:
  truth:
    format: edam:format_3590
    type: File[]
    label: Simulation truth
    doc: True pedestal, noise, bad pixels and signal of each module.
    outputSource: simulate/truth
  constants:
    format: edam:format_3590
    type: File[]
    label: Dark constants
    doc: NeXus constants of each module.
    outputSource: calibration/constants
  corrected:
    format: edam:format_3590
    type: File[]
    label: Corrected data
    doc: Offset-corrected frames of each module.
    outputSource: calibration/corrected
  calibration_reports:
    format: edam:format_2331
    type: File[]
    label: Dark-calibration reports
    doc: HTML report of each module's dark calibration.
    outputSource: calibration/calibration_reports
  correction_reports:
    format: edam:format_2331
    type: File[]
    label: Correction reports
    doc: HTML report of each module's correction.
    outputSource: calibration/correction_reports
steps:
  simulate:
    label: Simulate dark and data runs
    run: ../tools/simulate-darks.cwl
    in:
      modules: modules
      module_shape: module_shape
      n_darks: n_darks
      seed: seed
    out: [darks, data, truth]
  calibration:
    label: Calibrate and correct every module
    run: detector-calibration.cwl
    in:
      darks: simulate/darks
      data: simulate/data
    out: [constants, corrected, calibration_reports, correction_reports]
