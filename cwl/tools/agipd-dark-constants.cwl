#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: agipd-dark-constants
label: "AGIPD: offset, noise and bad pixels from dark frames"
doc: |
  The dark characterisation of European XFEL's AGIPD calibration, in miniature: the mean (offset),
  standard deviation (noise) and a bad-pixel map (dead: no noise; noisy: above 5 x the median
  noise) of every pixel of the 16 modules, from frames without X-rays, read one at a time from the
  virtual CXI file. Output NeXus: /entry/offset, /entry/noise, /entry/bad_pixels [16, 512, 128].

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, euxfel, dark]
arguments:
  - {prefix: --output, valueFrom: $(inputs.output_name), position: 10}
hints:
  SoftwareRequirement:
    packages:
      extra-data:
        version: [">=1.20,<2"]
        specs: ["https://pypi.org/project/extra-data/", "https://extra-data.readthedocs.io/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
  ResourceRequirement:
    coresMin: 1
    ramMin: 2048
inputs:
  cxi:
    format: edam:format_3590
    type: File
    label: Virtual CXI file
    doc: Output of euxfel-virtual-cxi.
    inputBinding: {prefix: --cxi, position: 1}
  run:
    type: Directory
    label: Run folder
    doc: The run the CXI file was made from (its module files are looked up here by name).
    inputBinding: {prefix: --run, position: 2}
  dark_frames:
    type: string
    default: "64:72"
    label: Frame selection
    doc: Frames of the CXI file to use, as A:B (half-open range), A:B:STEP or i,j,k.
    inputBinding: {prefix: --frames, position: 3}

  output_name:
    type: string
    default: constants.nxs
    label: Output file name
    doc: Name of the file written.
outputs:
  constants:
    format: edam:format_3590
    type: File
    label: Dark constants
    doc: NeXus file with /entry/offset, /entry/noise (ADU) and /entry/bad_pixels.
    outputBinding: {glob: $(inputs.output_name)}
