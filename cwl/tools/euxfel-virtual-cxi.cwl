#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: euxfel-virtual-cxi
label: "European XFEL: virtual CXI file of a multi-module detector (extra-data-make-virtual-cxi)"
doc: |
  Writes a small CXI file whose HDF5 virtual datasets present the detector's module files as one
  array `/entry_1/instrument_1/detector_1/data` [frame, module, (data/gain,) slow scan, fast scan],
  with train and pulse IDs (`/entry_1/trainId`, `/entry_1/pulseId`). No pixel data are copied.
  The virtual datasets point at the module files by absolute path: to read the file after the step,
  open it with the run folder as HDF5 virtual prefix (`HDF5_VDS_PREFIX=<run folder>`, or the
  `--run` option of the panosc-cwl euxfel tools), which finds the module files by name.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [extra-data-make-virtual-cxi]
arguments:
  - {prefix: -o, valueFrom: $(inputs.output_name), position: 2}
hints:
  SoftwareRequirement:
    packages:
      extra-data:
        version: [">=1.20,<2"]
        specs: ["https://pypi.org/project/extra-data/", "https://extra-data.readthedocs.io/"]
  ResourceRequirement:
    coresMin: 1
    ramMin: 1024
inputs:
  run:
    type: Directory
    label: Run folder
    doc: European XFEL run folder holding the detector's module files (RAW-*-AGIPDnn-*.h5 or CORR-*).
    inputBinding: {position: 1}
  min_modules:
    type: int?
    label: Minimum modules
    doc: Include trains where at least this many modules have data (default - half of the modules plus one).
    inputBinding: {prefix: --min-modules, position: 3}
  output_name:
    type: string
    default: detector_virt.cxi
    label: Output file name
    doc: Name of the CXI file written.
outputs:
  cxi:
    format: edam:format_3590
    type: File
    label: Virtual CXI file
    doc: CXI/HDF5 file with virtual datasets over the module files.
    outputBinding: {glob: $(inputs.output_name)}
