#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: agipd-stack-modules
label: "AGIPD: stack 16 corrected module files into one module array"
doc: |
  Puts the corrected frames of the 16 modules (one file each, /entry/data/data [frame, 512, 128],
  as detector-calibration.cwl writes them) back into one array /entry/data/data
  [frame, 16, 512, 128] float32, the input of agipd-assemble. Each file goes to the slot of its
  /entry/instrument/detector/module_index, whatever the order of the inputs; all 16 modules must be
  given exactly once.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, euxfel, stack-modules]
arguments:
  - {prefix: --output, valueFrom: $(inputs.output_name), position: 10}
hints:
  SoftwareRequirement:
    packages:
      h5py:
        version: [">=3.8"]
        specs: ["https://pypi.org/project/h5py/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
  ResourceRequirement:
    coresMin: 1
    ramMin: 2048
inputs:
  corrected:
    format: edam:format_3590
    type: File[]
    label: Corrected module files
    doc: The 16 corrected module files (detector-calibration.cwl's corrected output), any order.
    inputBinding: {prefix: --corrected, position: 1}
  output_name:
    type: string
    default: corrected.h5
    label: Output file name
    doc: Name of the file written.
outputs:
  corrected_stack:
    format: edam:format_3590
    type: File
    label: Corrected module data
    doc: HDF5 with /entry/data/data [frame, 16, 512, 128] float32 (NaN = bad pixel).
    outputBinding: {glob: $(inputs.output_name)}
