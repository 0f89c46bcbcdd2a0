#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: sasmodels-fit
label: "sasmodels: fit a small-angle scattering model to a 1D curve"
doc: |
  Evaluates a SasView model (sasmodels: sphere, cylinder, core_shell_sphere, ...) and fits the
  chosen parameters to a measured 1D curve (q in 1/Å, I in 1/cm, dI) with bumps' Levenberg-Marquardt
  fitter, as SasView does. Runs on the CPU (SAS_OPENCL=none), so results do not depend on a GPU.
  Outputs: fitted parameters with 1σ uncertainties and the reduced χ² (JSON), and the data with
  the fitted model curve (q, I, I_fit). Test data: `panosc-cwl sas simulate --par radius=60 ... -o curve.dat`.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, sas, fit]
arguments:
  - {prefix: --output, valueFrom: $(inputs.output_name), position: 10}
  - {prefix: --curve-output, valueFrom: $(inputs.curve_output_name), position: 11}
requirements:
  EnvVarRequirement:
    envDef:
      SAS_OPENCL: none
hints:
  SoftwareRequirement:
    packages:
      sasmodels:
        version: [">=1.0,<2"]
        specs: ["https://pypi.org/project/sasmodels/", "https://www.sasview.org/docs/"]
      bumps:
        version: [">=0.9"]
        specs: ["https://pypi.org/project/bumps/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
  ResourceRequirement:
    coresMin: 1
    ramMin: 1024
inputs:
  curve:
    format: edam:format_2330
    type: File
    label: Scattering curve
    doc: Whitespace-separated columns q [1/Å], I [1/cm] and optionally dI; lines starting with # are comments.
    inputBinding: {position: 1}
  model:
    type: string
    default: sphere
    label: Model
    doc: sasmodels model name (sphere, cylinder, core_shell_sphere, ...).
    inputBinding: {prefix: --model, position: 2}
  parameters:
    type:
      - "null"
      - type: array
        items: string
        inputBinding: {prefix: --par}
    label: Parameter values
    doc: NAME=VALUE pairs - start values of fitted parameters and values of fixed ones (others take the model's defaults).
    inputBinding: {position: 3}
  fit:
    type: string
    label: Fitted parameters
    doc: Comma-separated names of the parameters to fit, e.g. radius,scale,background.
    inputBinding: {prefix: --fit, position: 4}
  output_name:
    type: string
    default: sas-fit.json
    label: Result file name
    doc: Name of the JSON file with fitted values and uncertainties.
  curve_output_name:
    type: string
    default: sas-fit.dat
    label: Curve file name
    doc: Name of the table with q, I and the fitted model I_fit.
outputs:
  result:
    format: edam:format_3464
    type: File
    label: Fit result (JSON)
    doc: Model, fitted parameters, 1σ uncertainties, fixed parameters, reduced χ².
    outputBinding: {glob: $(inputs.output_name)}
  fitted_curve:
    format: edam:format_2330
    type: File
    label: Fitted curve
    doc: q, I and I_fit columns.
    outputBinding: {glob: $(inputs.curve_output_name)}
