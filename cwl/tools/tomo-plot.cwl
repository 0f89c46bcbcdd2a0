#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: tomo-plot
label: Plot a reconstructed slice (and score it against the phantom)
doc: |
  PNG of the middle reconstructed slice; with the simulation's truth, the phantom beside it and
  the centre of rotation and Pearson correlation in the title, and the full score in score.json.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, tomo, plot]
arguments:
  - {prefix: --output, valueFrom: $(inputs.output_name)}
  - valueFrom: |
      ${ return inputs.truth ? ["&&", "panosc-cwl", "tomo", "score", inputs.volume.path, "--truth", inputs.truth.path, ">", "score.json"] : []; }
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
  volume:
    format: edam:format_3590
    type: File
    label: Reconstructed volume
    doc: HDF5 from nabu-reconstruct.
    inputBinding: {position: 1}
  truth:
    format: edam:format_3464
    type: File?
    label: Simulation truth
    doc: JSON from tomo-simulate (with the phantom .npy as secondary file); omit for real data.
    inputBinding: {prefix: --truth, position: 2}
    secondaryFiles: [^.npy]
  output_name:
    type: string
    default: slice.png
    label: Output file name
    doc: Name of the PNG written.
outputs:
  plot:
    format: edam:format_3603
    type: File
    label: Slice plot (PNG)
    doc: Middle slice, beside the phantom when the truth is given.
    outputBinding: {glob: $(inputs.output_name)}
  score:
    format: edam:format_3464
    type: File?
    label: Score (JSON)
    doc: cor, true_cor, cor_error, pearson_r per slice, mean_mu_ratio; only with a truth.
    outputBinding: {glob: score.json}
