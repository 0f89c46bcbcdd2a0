#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: cdi-plot
label: Plot a CDI reconstruction (amplitude and phase)
doc: |
  PNG of the reconstructed object's amplitude and phase (central slice in 3D). Given the
  simulated file, the reconstruction is aligned to the truth (shift, twin, global phase removed),
  shown beside it, and the normalised complex error is printed in the title and in error.json.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, cdi, plot]
arguments:
  - {prefix: --output, valueFrom: $(inputs.output_name)}
  - valueFrom: |
      ${ return inputs.truth ? ["&&", "panosc-cwl", "cdi", "error", inputs.reconstruction.path, "--truth", inputs.truth.path, ">", "error.json"] : []; }
    shellQuote: false
    position: 10
requirements:
  InlineJavascriptRequirement: {}
  ShellCommandRequirement: {}
hints:
  SoftwareRequirement:
    packages:
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
      matplotlib:
        version: [">=3.7"]
        specs: ["https://pypi.org/project/matplotlib/"]
inputs:
  reconstruction:
    format: edam:format_2333
    type: File
    label: Reconstruction
    doc: CXI or NPZ written by pynx-cdi or cohere-cdi.
    inputBinding: {position: 1}
  truth:
    format: edam:format_3590
    type: File?
    label: Simulated data (truth)
    doc: The CXI file from cdi-simulate; omit for real data.
    inputBinding: {prefix: --truth, position: 2}
  output_name:
    type: string
    default: cdi.png
    label: Output file name
    doc: Name of the PNG written.
outputs:
  plot:
    format: edam:format_3603
    type: File
    label: Amplitude and phase (PNG)
    doc: Amplitude and phase maps (aligned to the truth when given).
    outputBinding: {glob: $(inputs.output_name)}
  error:
    format: edam:format_3464
    type: File?
    label: Error vs truth (JSON)
    doc: error, twin, shift, scale and global phase of the alignment; only with a truth.
    outputBinding: {glob: error.json}
