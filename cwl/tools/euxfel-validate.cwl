#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: euxfel-validate
label: "European XFEL: validate a run folder (extra-data-validate)"
doc: |
  Checks the structure of a European XFEL run folder with the facility's own validator
  (`extra-data-validate` from extra-data): every HDF5 file opens, INDEX and data agree, train IDs
  are ordered. The step fails (non-zero exit) when problems are found; the report is kept.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [extra-data-validate]
stdout: validation.txt
hints:
  SoftwareRequirement:
    packages:
      extra-data:
        version: [">=1.20,<2"]
        specs: ["https://pypi.org/project/extra-data/", "https://extra-data.readthedocs.io/"]
  ResourceRequirement:
    coresMin: 1
    ramMin: 1024
inputs:
  run:
    type: Directory
    label: Run folder
    doc: A European XFEL run folder (e.g. /gpfs/exfel/exp/SPB/202501/p002222/raw/r0013) with its RAW-*.h5 files.
    inputBinding: {position: 1}
outputs:
  report:
    format: edam:format_2330
    type: stdout
    label: Validation report
    doc: Text report of extra-data-validate ("No problems found" when the run is sound).
