#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: agipd-split-modules
label: "AGIPD: one dark file and one data file per module from a virtual CXI file"
doc: |
  Reads the dark frames and the data frames of a virtual CXI file (the data plane of raw frames,
  uint16 ADU) and writes, for each of the 16 modules, darks_mMM.h5 and data_mMM.h5 with the frames
  (N, 512, 128) in /entry/data/data and the module index in /entry/instrument/detector/module_index:
  the per-module input of the notebook workflow detector-calibration.cwl. The data files also keep
  the frames' train and pulse IDs. Outputs are in module order.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, euxfel, split]
arguments:
  - {prefix: --outdir, valueFrom: $(runtime.outdir), position: 10}
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
    label: Dark frames
    doc: Frames of the CXI file without X-rays, as A:B (half-open range), A:B:STEP or i,j,k.
    inputBinding: {prefix: --dark-frames, position: 3}
  frames:
    type: string
    label: Data frames
    doc: Frames of the CXI file to correct, as A:B (half-open range), A:B:STEP or i,j,k.
    inputBinding: {prefix: --frames, position: 4}
outputs:
  darks:
    format: edam:format_3590
    type: File[]
    label: Dark files
    doc: darks_m00.h5 ... darks_m15.h5, /entry/data/data [frame, 512, 128] uint16.
    outputBinding: {glob: "darks_m*.h5"}
  data:
    format: edam:format_3590
    type: File[]
    label: Data files
    doc: data_m00.h5 ... data_m15.h5, /entry/data/data [frame, 512, 128] uint16, with train and pulse IDs.
    outputBinding: {glob: "data_m*.h5"}
