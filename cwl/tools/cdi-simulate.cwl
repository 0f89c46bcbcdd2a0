#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: cdi-simulate
label: Simulate a coherent diffraction pattern of a known object
doc: |
  A compact complex object (irregular, non-centrosymmetric border; smooth amplitude and phase)
  -> |FFT|^2 scaled to the photon count, with Poisson noise, centred; 2D or 3D. Written as CXI
  (HDF5/NeXus) where pynx-cdi-id01 reads it (/entry_1/instrument_1/detector_1/data), with the
  true object in /entry_1/sample_1/object for scoring reconstructions.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, cdi, simulate]
arguments:
  - {prefix: --output, valueFrom: $(inputs.output_name)}
hints:
  SoftwareRequirement:
    packages:
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
inputs:
  shape:
    type: int[]
    default: [128, 128]
    label: Array shape
    doc: 2 or 3 sizes of the diffraction array (the object fills about 0.3 of each).
    inputBinding: {prefix: --shape}
  photons:
    type: float
    default: 1.0e+9
    label: Total photons
    doc: Total counts in the pattern before Poisson noise.
    inputBinding: {prefix: --photons}
  seed:
    type: int
    default: 0
    label: Random seed
    doc: Seed of the object's shape/phase and of the noise.
    inputBinding: {prefix: --seed}
  output_name:
    type: string
    default: cdi.cxi
    label: Output file name
    doc: Name of the CXI file written.
outputs:
  data:
    format: edam:format_3590
    type: File
    label: Diffraction data and truth (CXI)
    doc: Intensity in /entry_1/instrument_1/detector_1/data, true object in /entry_1/sample_1/object.
    outputBinding: {glob: $(inputs.output_name)}
