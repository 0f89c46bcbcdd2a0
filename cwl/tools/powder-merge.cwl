#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: powder-merge
label: Merge integrated frame chunks into one stack
doc: |
  Joins the NeXus files of a scattered integration (pyfai-integrate1d-chunk, one per frame
  range) into one file, in frame order (NXazint1d, like the chunks): `/entry/integrated` holds
  I[frame, radial] of all chunks with their global `frame_index`, instrument and the `reduction`
  NXprocess come from the first chunk, and `reduction/input/config` lists the chunks merged. Chunks must share their bins and must not overlap.
  The result equals what pyfai-integrate1d writes for the whole stack.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, powder, merge]
arguments:
  - {prefix: --output, valueFrom: $(inputs.output_name), position: 20}
hints:
  SoftwareRequirement:
    packages:
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
      h5py:
        version: [">=3.9"]
        specs: ["https://pypi.org/project/h5py/"]
  ResourceRequirement:
    coresMin: 1
    ramMin: 1024
inputs:
  chunks:
    format: edam:format_3590
    type: File[]
    label: Integrated chunks
    doc: NeXus files written by pyfai-integrate1d-chunk (any order; they are sorted by frame number).
    inputBinding: {position: 1}
  output_name:
    type: string
    default: integrated.nxs
    label: Output file name
    doc: Name of the merged NeXus file.
outputs:
  integrated:
    format: edam:format_3590
    type: File
    label: Integrated patterns (NeXus)
    doc: NXentry/NXdata with I[frame, radial] of all chunks, uncertainties and the radial axis.
    outputBinding: {glob: $(inputs.output_name)}
