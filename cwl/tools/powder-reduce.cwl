#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: powder-reduce
label: Reduce integrated powder patterns
doc: |
  From a stack of integrated 1D patterns, computes the mean and summed pattern (uncertainties
  propagated) and the total integrated intensity of each frame (to spot beam drops or sample
  damage). Output NeXus: `/entry/mean` (default plot), `/entry/sum`, `/entry/frame_total`.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, powder, reduce]
arguments:
  - {prefix: --output, valueFrom: $(inputs.output_name)}
hints:
  SoftwareRequirement:
    packages:
      pyFAI:
        version: [">=2024.1,<2027"]
        specs: ["https://pypi.org/project/pyFAI/", "https://www.silx.org/doc/pyFAI/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
inputs:
  integrated:
    format: edam:format_3590  # NeXus (HDF5): a PNG or TIFF here is refused before the tool runs
    type: File
    label: Integrated patterns
    doc: NeXus file written by pyfai-integrate1d.
    inputBinding: {position: 1}
  output_name:
    type: string
    default: reduced.nxs
    label: Output file name
    doc: Name of the NeXus file written.
outputs:
  reduced:
    format: edam:format_3590
    type: File
    label: Reduced pattern (NeXus)
    doc: Mean and summed pattern, per-frame totals.
    outputBinding: {glob: $(inputs.output_name)}
