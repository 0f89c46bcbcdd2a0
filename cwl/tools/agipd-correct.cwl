#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: agipd-correct
label: "AGIPD: offset-correct frames of a virtual CXI file"
doc: |
  Subtracts the dark offset from the selected frames of the 16 modules (the data plane of raw
  frames) and sets bad pixels to NaN. Output: /entry/data/data [frame, 16, 512, 128] float32 (ADU)
  with the frames' train and pulse IDs.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, euxfel, correct]
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
  frames:
    type: string
    default: "0:4"
    label: Frame selection
    doc: Frames of the CXI file to use, as A:B (half-open range), A:B:STEP or i,j,k.
    inputBinding: {prefix: --frames, position: 3}
  constants:
    format: edam:format_3590
    type: File
    label: Dark constants
    doc: Output of agipd-dark-constants (offset, bad pixels).
    inputBinding: {prefix: --constants, position: 4}
  output_name:
    type: string
    default: corrected.h5
    label: Output file name
    doc: Name of the file written.
outputs:
  corrected:
    format: edam:format_3590
    type: File
    label: Corrected module data
    doc: HDF5 with /entry/data/data [frame, module, 512, 128], /entry/trainId, /entry/pulseId.
    outputBinding: {glob: $(inputs.output_name)}
