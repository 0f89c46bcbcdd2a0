#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: pymca-xrf-fit
label: "PyMca: fit an X-ray fluorescence map (FastXRFLinearFit, headless)"
doc: |
  Fits every pixel spectrum of an XRF map with PyMca's batch fitter
  `python -m PyMca5.PyMcaPhysics.xrf.FastXRFLinearFit` (ESRF; the Qt front ends do not run
  headless): peak-group areas (Fe Ka, Cr K, ...) per pixel from a linear fit whose peak shapes,
  energy calibration and background (SNIP or strip) come from a PyMca fit configuration (.cfg).
  The map is an HDF5 dataset (rows, columns, channels). Output: PyMca's HDF5 result
  (`/<entry>/xrf_fit/results/parameters/<group>` maps with their uncertainties, and the
  configuration used). Test data: `panosc-cwl xrf simulate -o data/xrf` (PyMca's Steel.spe as a noisy map).

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, xrf, fit-map]
arguments:
  - {prefix: --output, valueFrom: $(inputs.output_name), position: 10}
hints:
  SoftwareRequirement:
    packages:
      PyMca5:
        version: [">=5.9,<6"]
        specs: ["https://pypi.org/project/PyMca5/", "http://pymca.sourceforge.net/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
  ResourceRequirement:
    coresMin: 1
    ramMin: 2048
inputs:
  map:
    format: edam:format_3590
    type: File
    label: XRF map
    doc: HDF5 file holding the map as a (rows, columns, channels) dataset.
    inputBinding: {position: 1}
  dataset:
    type: string
    default: /entry/data/data
    label: Map dataset
    doc: Path of the (rows, columns, channels) dataset inside the map file.
    inputBinding: {prefix: --dataset, position: 2}
  config:
    format: edam:format_2330
    type: File
    label: Fit configuration
    doc: PyMca fit configuration (.cfg) - elements and lines, energy calibration, peak shape, background.
    inputBinding: {prefix: --config, position: 3}
  weight:
    type: int
    default: 1
    label: Weighting
    doc: 0 unweighted, 1 weighted by the counts of the summed spectrum (as the single-spectrum fit does), 2 per-pixel weights.
    inputBinding: {prefix: --weight, position: 4}
  refit:
    type: int
    default: 0
    label: Refit
    doc: 1 refits pixels without the groups that came out negative.
    inputBinding: {prefix: --refit, position: 5}
  output_name:
    type: string
    default: xrf-fit.h5
    label: Output file name
    doc: Name of the HDF5 result written.
outputs:
  result:
    format: edam:format_3590
    type: File
    label: Fit result (HDF5)
    doc: Peak-group area maps and their uncertainties, with PyMca's configuration.
    outputBinding: {glob: $(inputs.output_name)}
