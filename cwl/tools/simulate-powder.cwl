#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: simulate-powder
label: Simulate powder-diffraction frames of a calibrant
doc: |
  Writes a realistic powder-diffraction measurement made with pyFAI's own calibrant simulation
  (Debye-Scherrer rings of CeO2, LaB6, Si... on a real detector geometry) plus background,
  beam-intensity drift, Poisson noise and detector gaps (dummy -1). Outputs an HDF5/NeXus stack
  (`/entry/data/data`), the PONI geometry, single frames as EDF and TIFF, and the simulation truth (JSON).

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, powder, simulate, --outdir, .]
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
  calibrant:
    type: string
    default: CeO2
    label: Calibrant
    doc: pyFAI calibrant name (CeO2, LaB6, Si, Al2O3 ...).
    inputBinding: {prefix: --calibrant}
  detector:
    type: string
    default: Pilatus1M
    label: Detector
    doc: pyFAI detector name (Pilatus1M, Eiger1M, Eiger4M ...).
    inputBinding: {prefix: --detector}
  n_frames:
    type: int
    default: 10
    label: Number of frames
    doc: Frames in the HDF5 stack.
    inputBinding: {prefix: --frames}
  wavelength_A:
    type: float
    default: 1.0
    label: Wavelength (Å)
    doc: X-ray wavelength in angstrom.
    inputBinding: {prefix: --wavelength}
  distance_mm:
    type: float
    default: 100.0
    label: Distance (mm)
    doc: Sample-to-detector distance in millimetres.
    inputBinding: {prefix: --distance}
  seed:
    type: int
    default: 0
    label: Random seed
    doc: Seed of the Poisson noise (same seed, same frames).
    inputBinding: {prefix: --seed}
  name:
    type: string
    default: powder
    label: Base name
    doc: Base name of the files written.
    inputBinding: {prefix: --name}
outputs:
  stack:
    format: edam:format_3590
    type: File
    label: Frame stack (HDF5)
    doc: NeXus file with the frames in /entry/data/data.
    outputBinding: {glob: $(inputs.name).h5}
  poni:
    format: edam:format_2330
    type: File
    label: Geometry (PONI)
    doc: The pyFAI geometry the frames were simulated with.
    outputBinding: {glob: $(inputs.name).poni}
  single_frames:
    format: edam:format_2333
    type: File[]
    label: Single frames
    doc: The first frame as EDF and as TIFF.
    outputBinding: {glob: ["$(inputs.name)_*.edf", "$(inputs.name)_*.tif"]}
  truth:
    format: edam:format_3464
    type: File
    label: Simulation truth
    doc: JSON with the parameters and the calibrant's 2θ reflections.
    outputBinding: {glob: $(inputs.name)_truth.json}
