#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: powder-plot
label: Plot a powder pattern with calibrant reflections
doc: |
  PNG of the mean powder pattern with the expected reflections of the calibrant marked (computed
  by pyFAI from its d-spacings and the wavelength in the file), and the per-frame total intensity.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, powder, plot]
arguments:
  - {prefix: --output, valueFrom: $(inputs.output_name)}
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
  reduced:
    format: edam:format_3590  # NeXus (HDF5): a PNG or TIFF here is refused before the tool runs
    type: File
    label: Reduced pattern
    doc: NeXus file written by powder-reduce.
    inputBinding: {position: 1}
  calibrant:
    type: string?
    label: Calibrant
    doc: pyFAI calibrant whose reflections are marked (CeO2, LaB6, Si ...); omit for none.
    inputBinding: {prefix: --calibrant}
  output_name:
    type: string
    default: pattern.png
    label: Output file name
    doc: Name of the PNG written.
outputs:
  plot:
    format: edam:format_3603
    type: File
    label: Pattern plot (PNG)
    doc: The mean pattern with expected reflections, and per-frame totals.
    outputBinding: {glob: $(inputs.output_name)}
