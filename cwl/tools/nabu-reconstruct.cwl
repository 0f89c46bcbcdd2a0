#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: nabu-reconstruct
label: "nabu: tomographic reconstruction (GPU, with a CPU fallback)"
doc: |
  Reconstructs the slices of an NXtomo scan with ESRF's nabu, from a nabu-config configuration.
  On a node where nabu can back-project (CUDA with cupy/pycuda, or OpenCL with pyopencl and
  pyvkfft) this runs `nabu CONFIG` itself. Elsewhere (backend auto -> cpu) nabu still reads the
  config and data, reduces darks/flats and estimates the centre of rotation (its ProcessConfig),
  and the flat-field, log, optional Paganin filter and the ramp-filtered back-projection
  (scikit-image) run on the CPU: nabu's own "numpy" fallback does not cover the back-projection.
  Output: HDF5 in nabu's layout (/entry0000/reconstruction/results/data, 1/cm) with the axis
  position used, and `reconstruction/program` names the code path that ran (nabu, or the CPU path).
  Its GPU request (a cwltool:CUDARequirement) is in `../gpu-overrides.yml`, not here, so the tool
  runs its CPU path where there is no GPU; with `--overrides` (added by `panosc-cwl run` where a
  GPU can be had) Toil/SLURM request one (`--gres=gpu:1`).

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, tomo, reconstruct]
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
      scikit-image:
        version: [">=0.22"]
        specs: ["https://pypi.org/project/scikit-image/"]
  ResourceRequirement:
    coresMin: 1
    ramMin: 2048
inputs:
  config:
    format: edam:format_2330
    type: File
    label: nabu configuration
    doc: The .conf file from nabu-config.
    inputBinding: {position: 1}
  dataset:
    format: edam:format_3590
    type: File
    label: Scan (NXtomo)
    doc: The NXtomo file; replaces the config's [dataset] location (runners stage files elsewhere).
    inputBinding: {prefix: --dataset, position: 2}
  backend:
    type:
      type: enum
      name: nabu_backend
      symbols: [auto, nabu, cpu]
    default: auto
    label: Back end
    doc: auto (nabu where it has a GPU/OpenCL back-projector, else the CPU path), nabu (force), cpu (force).
    inputBinding: {prefix: --backend, position: 3}
  output_name:
    type: string
    default: reconstruction.h5
    label: Output file name
    doc: Name of the HDF5 volume written.
outputs:
  volume:
    format: edam:format_3590
    type: File
    label: Reconstructed volume (HDF5)
    doc: Slices (z, y, x) of attenuation in 1/cm, in nabu's HDF5 layout.
    outputBinding: {glob: $(inputs.output_name)}
