#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: tomo-simulate
label: Simulate a tomography scan (NXtomo) of a Shepp-Logan phantom
doc: |
  Shepp-Logan phantom slices (attenuation in 1/cm) -> Radon transform (scikit-image) ->
  Beer-Lambert transmission of a non-uniform beam with Poisson noise, plus darks and flats, with
  the rotation axis off the detector centre by `cor_offset` pixels. Written as NXtomo with ESRF's
  `nxtomo` package (what nabu reads), with the phantom (.npy) and a truth JSON (true axis position).

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, tomo, simulate, --outdir, .]
hints:
  SoftwareRequirement:
    packages:
      nxtomo:
        version: [">=1.0"]
        specs: ["https://pypi.org/project/nxtomo/"]
      scikit-image:
        version: [">=0.22"]
        specs: ["https://pypi.org/project/scikit-image/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
inputs:
  size:
    type: int
    default: 256
    label: Detector width (px)
    doc: Width of the detector and of the reconstructed slices, in pixels (even).
    inputBinding: {prefix: --size}
  slices:
    type: int
    default: 16
    label: Detector rows
    doc: Number of detector rows, i.e. reconstructed slices.
    inputBinding: {prefix: --slices}
  angles:
    type: int
    default: 360
    label: Projections
    doc: Number of projections over the angular range.
    inputBinding: {prefix: --angles}
  angular_range:
    type: float
    default: 360.0
    label: Angular range (deg)
    doc: 180 or 360 degrees.
    inputBinding: {prefix: --angular-range}
  cor_offset:
    type: float
    default: 5.0
    label: Axis offset (px)
    doc: Rotation-axis position minus the detector centre, in pixels (the truth nabu must find).
    inputBinding: {prefix: --cor-offset}
  seed:
    type: int
    default: 0
    label: Random seed
    doc: Seed of the Poisson and read noise.
    inputBinding: {prefix: --seed}
  name:
    type: string
    default: tomo
    label: Base name
    doc: Base name of the files written.
    inputBinding: {prefix: --name}
outputs:
  nxtomo:
    format: edam:format_3590
    type: File
    label: Scan (NXtomo)
    doc: Darks, flats and projections with image keys and rotation angles.
    outputBinding: {glob: $(inputs.name).nx}
  truth:
    format: edam:format_3464
    type: File
    label: Simulation truth (JSON)
    doc: Parameters and the true rotation-axis position; the phantom file as a secondary file.
    outputBinding: {glob: $(inputs.name)_truth.json}
    secondaryFiles: [^.npy]
