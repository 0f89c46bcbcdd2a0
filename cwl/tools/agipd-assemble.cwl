#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: agipd-assemble
label: "AGIPD-1M: assemble module images with an extra-geom geometry"
doc: |
  Places the 16 modules of every frame on one 2D image where their pixels are
  (extra-geom's position_modules, pixels snapped to a 200 µm grid); gaps between tiles are NaN.
  The geometry is a CrystFEL .geom file or four quadrant positions. Output /entry/data/data
  [frame, y, x] float32, ready for pyfai-integrate1d with the PONI of agipd-geometry-export.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, euxfel, assemble]
arguments:
  - {prefix: --output, valueFrom: $(inputs.output_name), position: 10}
hints:
  SoftwareRequirement:
    packages:
      extra-geom:
        version: [">=1.10,<2"]
        specs: ["https://pypi.org/project/extra-geom/", "https://extra-geom.readthedocs.io/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
  ResourceRequirement:
    coresMin: 1
    ramMin: 2048
inputs:
  corrected:
    format: edam:format_3590
    type: File
    label: Corrected module data
    doc: Output of agipd-correct, /entry/data/data [frame, 16, 512, 128].
    inputBinding: {prefix: --corrected, position: 1}
  geometry:
    format: edam:format_2330
    type: File?
    label: Geometry (CrystFEL)
    doc: CrystFEL .geom file of the AGIPD-1M.
    inputBinding: {prefix: --geometry, position: 2}
  quad_positions:
    type: string?
    label: Quadrant positions
    doc: Instead of a .geom file, the four quadrant corners 'x,y x,y x,y x,y' in pixels.
    inputBinding: {prefix: --quad-positions, position: 3}
  output_name:
    type: string
    default: assembled.h5
    label: Output file name
    doc: Name of the file written.
outputs:
  assembled:
    format: edam:format_3590
    type: File
    label: Assembled images
    doc: HDF5 with /entry/data/data [frame, y, x] (NaN in gaps).
    outputBinding: {glob: $(inputs.output_name)}
