#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: nabu-config
label: "nabu: configuration of a reconstruction"
doc: |
  Runs `nabu-config --dataset X --level required` (nabu's own template with its defaults and
  comments) and fills in the typed options: centre-of-rotation method (or a known value), phase
  retrieval, output format, slice range. The config points at the dataset by the path given;
  nabu-reconstruct re-points it at its own staged copy.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, tomo, config]
arguments:
  - {prefix: --output, valueFrom: $(inputs.output_name)}
hints:
  SoftwareRequirement:
    packages:
      nabu:
        version: [">=2024.1,<2027"]
        specs: ["https://pypi.org/project/nabu/", "https://www.silx.org/pub/nabu/doc/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
inputs:
  dataset:
    format: edam:format_3590
    type: File
    label: Scan (NXtomo)
    doc: NXtomo HDF5 file with darks, flats, projections and angles.
    inputBinding: {prefix: --dataset}
  cor_method:
    type:
      type: enum
      name: nabu_cor_method
      symbols: [centered, global, sliding-window, growing-window, sino-coarse-to-fine, composite-coarse-to-fine, fourier-angles, octave-accurate]
    default: sliding-window
    label: Centre-of-rotation method
    doc: nabu's estimator of the rotation-axis position (rotation_axis_position); centered assumes the detector centre.
    inputBinding: {prefix: --cor-method}
  cor_value:
    type: float?
    label: Centre of rotation (px)
    doc: A known axis position in pixels instead of an estimation.
    inputBinding: {prefix: --cor-value}
  phase:
    type:
      type: enum
      name: nabu_phase
      symbols: ["none", paganin, CTF]
    default: "none"
    label: Phase retrieval
    doc: none (absorption), paganin (single-distance Paganin filter) or CTF.
    inputBinding: {prefix: --phase}
  delta_beta:
    type: float
    default: 100.0
    label: delta/beta
    doc: Ratio of the refractive-index decrement to the absorption index, for Paganin/CTF.
    inputBinding: {prefix: --delta-beta}
  output_format:
    type:
      type: enum
      name: nabu_output_format
      symbols: [hdf5, tiff]
    default: hdf5
    label: Output format
    doc: hdf5 (one NeXus volume) or tiff (one file per slice).
    inputBinding: {prefix: --output-format}
  start_z:
    type: int
    default: 0
    label: First slice
    doc: First detector row to reconstruct.
    inputBinding: {prefix: --start-z}
  end_z:
    type: int
    default: -1
    label: Last slice
    doc: Last detector row to reconstruct (-1 for the last).
    inputBinding: {prefix: --end-z}
  output_name:
    type: string
    default: nabu.conf
    label: Config file name
    doc: Name of the nabu configuration file written.
outputs:
  config:
    format: edam:format_2330
    type: File
    label: nabu configuration
    doc: The nabu .conf file (INI), ready for `nabu CONFIG`.
    outputBinding: {glob: $(inputs.output_name)}
