#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: agipd-geometry-export
label: "AGIPD-1M: export an extra-geom geometry for pyFAI and CrystFEL"
doc: |
  Writes the detector geometry in the forms other programs load: a pyFAI PONI file describing the
  assembled images of agipd-assemble (a generic 200 µm detector of the assembled shape with the
  beam at the geometry's centre, plus distance and wavelength), a CrystFEL .geom file (with clen
  and photon energy), and a pyFAI NXdetector file holding every pixel's corners
  (extra-geom's to_pyfai_detector; load with pyFAI.detector_factory("NexusDetector", ...)).

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, euxfel, geometry, --outdir, .]
hints:
  SoftwareRequirement:
    packages:
      extra-geom:
        version: [">=1.10,<2"]
        specs: ["https://pypi.org/project/extra-geom/", "https://extra-geom.readthedocs.io/"]
      pyFAI:
        version: [">=2024.1,<2027"]
        specs: ["https://pypi.org/project/pyFAI/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
  ResourceRequirement:
    coresMin: 1
    ramMin: 1024
inputs:
  geometry:
    format: edam:format_2330
    type: File?
    label: Geometry (CrystFEL)
    doc: CrystFEL .geom file of the AGIPD-1M.
    inputBinding: {prefix: --geometry, position: 1}
  quad_positions:
    type: string?
    label: Quadrant positions
    doc: Instead of a .geom file, the four quadrant corners 'x,y x,y x,y x,y' in pixels.
    inputBinding: {prefix: --quad-positions, position: 2}
  distance_mm:
    type: float
    label: Sample-detector distance (mm)
    doc: Distance from the sample to the detector plane along the beam, in millimetres.
    inputBinding: {prefix: --distance, position: 3}
  wavelength_angstrom:
    type: float
    label: Wavelength (Å)
    doc: X-ray wavelength in ångström (12.398 / photon energy in keV).
    inputBinding: {prefix: --wavelength, position: 4}
  name:
    type: string
    default: agipd
    label: Base name
    doc: Base name of the files written (NAME-assembled.poni, NAME.geom, NAME-pyfai-detector.h5).
    inputBinding: {prefix: --name, position: 5}
outputs:
  poni:
    format: edam:format_2330
    type: File
    label: PONI of assembled images
    doc: pyFAI geometry of the images made by agipd-assemble.
    outputBinding: {glob: $(inputs.name)-assembled.poni}
  crystfel:
    format: edam:format_2330
    type: File
    label: CrystFEL geometry
    doc: CrystFEL .geom file with clen and photon energy.
    outputBinding: {glob: $(inputs.name).geom}
  pyfai_detector:
    format: edam:format_3590
    type: File
    label: pyFAI NXdetector
    doc: NeXus detector file with the corners of every module pixel.
    outputBinding: {glob: $(inputs.name)-pyfai-detector.h5}
