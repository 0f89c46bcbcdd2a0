#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: pyfai-integrate1d-gpu
label: "pyFAI: azimuthal integration to 1D patterns on a GPU (OpenCL)"
doc: |
  GPU variant of pyfai-integrate1d: pyFAI's OpenCL CSR engine (`--method opencl`); on a node
  without an OpenCL device it falls back to the same CSR engine on the CPU, so results match.
  Its GPU request (a cwltool:CUDARequirement) is in `../gpu-overrides.yml`, not here, so the tool
  also runs where there is no GPU; with `--overrides` Toil's SLURM batch system submits it as
  `--gres=gpu:1` (to `--slurmGPUPartition` / a profile's `gpu_partition`). `panosc-cwl run` adds
  the overrides where a GPU can be had.
  Integrates every frame of a powder-diffraction measurement into a 1D pattern I(2θ or q) with
  pyFAI (ESRF), in one process: the geometry look-up tables are built once for the whole stack.
  Output: one NeXus file following the application definition NXazint1d (written by pyFAI's
  `save_NXazint1d`; r in mm claims no definition): `/entry/integrated` is the NXdata group
  (signal `I` [frame, radial], axes `.`, `radial_axis`, `frame_index`, `I_errors`, `norm`) that
  silx and h5web plot directly, and `/entry/reduction` (NXprocess, NXparameters `input`) records
  pyFAI's version, reference, method and geometry.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"

baseCommand: [panosc-cwl, powder, integrate1d, --quiet, --method, opencl]
arguments:
  - {prefix: --output, valueFrom: $(inputs.output_name), position: 20}
hints:
  SoftwareRequirement:
    packages:
      pyFAI:
        version: [">=2024.1,<2027"]
        specs: ["https://pypi.org/project/pyFAI/", "https://www.silx.org/doc/pyFAI/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
  ResourceRequirement:
    coresMin: 1
    ramMin: 2048
inputs:
  frames:
    format: ["edam:format_3590", "edam:format_3591", "edam:format_2333"]
    type: File[]
    label: Detector frames
    doc: |
      HDF5/NeXus stack(s) of frames (give `dataset`), or single-frame EDF/TIFF/CBF files
      (read with fabio). All frames are integrated in one process, in order.
    inputBinding: {prefix: --frames, position: 1}
  dataset:
    type: string?
    label: HDF5 dataset path
    doc: Path of the frame stack inside HDF5 inputs, e.g. /entry/data/data (N x ny x nx or ny x nx).
    inputBinding: {prefix: --dataset, position: 2}
  poni:
    format: edam:format_2330
    type: File
    label: Geometry (PONI)
    doc: pyFAI PONI file with detector, distance, beam centre, tilts and wavelength.
    inputBinding: {prefix: --poni, position: 3}
  npt:
    type: int
    default: 1000
    label: Radial bins
    doc: Number of bins of the radial axis.
    inputBinding: {prefix: --npt, position: 4}
  unit:
    type:
      type: enum
      name: radial_unit
      symbols: [2th_deg, q_nm^-1, q_A^-1, r_mm]
    default: 2th_deg
    label: Radial unit
    doc: 2th_deg (scattering angle, degrees), q_nm^-1 or q_A^-1 (momentum transfer), r_mm (radius on the detector).
    inputBinding: {prefix: --unit, position: 5}
  mask:
    format: ["edam:format_3590", "edam:format_3591", "edam:format_4003", "edam:format_2333"]
    type: File?
    label: Mask
    doc: Image (EDF/TIFF/NPY/HDF5) of the detector's shape; non-zero pixels are excluded. Detector gaps are masked anyway.
    inputBinding: {prefix: --mask, position: 6}
  dark:
    format: ["edam:format_3590", "edam:format_3591", "edam:format_4003", "edam:format_2333"]
    type: File?
    label: Dark current
    doc: Dark image subtracted from every frame.
    inputBinding: {prefix: --dark, position: 7}
  flat:
    format: ["edam:format_3590", "edam:format_3591", "edam:format_4003", "edam:format_2333"]
    type: File?
    label: Flat field
    doc: Flat-field image every frame is divided by.
    inputBinding: {prefix: --flat, position: 8}
  polarization_factor:
    type: float?
    label: Polarization factor
    doc: Between -1 and 1 (about 0.99 for a horizontally polarised synchrotron beam); omit for no correction.
    inputBinding: {prefix: --polarization, position: 9}
  error_model:
    type:
      type: enum
      name: error_model
      symbols: [none, poisson, azimuthal]
    default: poisson
    label: Error model
    doc: How uncertainties are computed - poisson (variance = counts), azimuthal (spread in each ring), or none.
    inputBinding: {prefix: --error-model, position: 10}
  output_name:
    type: string
    default: integrated.nxs
    label: Output file name
    doc: Name of the NeXus file written.
outputs:
  integrated:
    format: edam:format_3590
    type: File
    label: Integrated patterns (NeXus)
    doc: NXentry/NXdata with I[frame, radial], its uncertainties and the radial axis with units.
    outputBinding: {glob: $(inputs.output_name)}
