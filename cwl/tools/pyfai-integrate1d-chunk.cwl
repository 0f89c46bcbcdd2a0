#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: pyfai-integrate1d-chunk
label: "pyFAI: azimuthal integration of one chunk of frames to 1D patterns"
doc: |
  One chunk of a scattered integration: like pyfai-integrate1d, but only the frames
  `frame_range` (START:STOP, 0-based, STOP excluded, counted over all inputs) are integrated.
  The output keeps the global frame numbers in `frame_index`, so `powder-merge` can join the
  chunks into exactly the file an unscattered integration writes.
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

baseCommand: [panosc-cwl, powder, integrate1d, --quiet]
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
      HDF5/NeXus stack(s) of frames, an NXmx master file (Eiger/Jungfrau: all its
      /entry/data/data_NNNNNN links, in order), a Bliss scan file (detector as a virtual dataset),
      or EDF/TIFF/CBF files (an EDF series: every file, multi-frame EDF included; read with fabio).
      All frames are integrated in one process, in order. The files a master/scan file links to
      travel as the job's `secondaryFiles` of that File (data files as File, a LImA `scan0001/`
      folder as Directory): CWL stages them beside it, so the links resolve also where inputs
      are copied (toil-cwl-runner --symlinkImports False, containers). `panosc-cwl validate`
      names a linked file that is missing.
    inputBinding: {prefix: --frames, position: 1}
  dataset:
    type: string?
    label: HDF5 dataset path
    doc: Path of the frame stack inside HDF5 inputs, e.g. /entry/data/data (N x ny x nx or ny x nx); default - found from the NXmx links, the NXdata signal or the Bliss detector.
    inputBinding: {prefix: --dataset, position: 2}
  poni:
    format: edam:format_2330
    type: File?
    label: Geometry (PONI)
    doc: pyFAI PONI file with detector, distance, beam centre, tilts and wavelength; default - the `config`'s geometry, else an NXmx master file's own (distance, pixel size, beam centre, wavelength).
    inputBinding: {prefix: --poni, position: 3}
  config:
    format: edam:format_3464
    type: File?
    label: pyFAI-integrate configuration (JSON)
    doc: |
      The JSON pyFAI-integrate saves (WorkerConfig; geometry, detector, mask_file, dark_current,
      flat_field, polarization, method, unit, nbpt_rad, nbpt_azim, azimuth range, error model),
      read by pyFAI itself. The inputs given here override it. Mask/dark/flat files it names are
      looked up beside the JSON: list them as its secondaryFiles, or give `mask`/`dark`/`flat`.
    inputBinding: {prefix: --config, position: 12}
  npt:
    type: int?
    label: Radial bins
    doc: Number of bins of the radial axis (default 1000, or the config's nbpt_rad).
    inputBinding: {prefix: --npt, position: 4}
  unit:
    type:
      - 'null'
      - type: enum
        name: radial_unit
        symbols: [2th_deg, q_nm^-1, q_A^-1, r_mm]
    label: Radial unit
    doc: 2th_deg (scattering angle, degrees), q_nm^-1 or q_A^-1 (momentum transfer), r_mm (radius on the detector); default 2th_deg, or the config's unit.
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
      - 'null'
      - type: enum
        name: error_model
        symbols: [none, poisson, azimuthal]
    label: Error model
    doc: How uncertainties are computed - poisson (variance = counts), azimuthal (spread in each ring), or none; default poisson, or the config's error model.
    inputBinding: {prefix: --error-model, position: 10}
  frame_range:
    type: string
    label: Frame range
    doc: START:STOP of the frames of this chunk (0-based, STOP excluded; STOP past the end means "to the end").
    inputBinding: {prefix: --frame-range, position: 11}
  output_name:
    type: string
    default: chunk.nxs
    label: Output file name
    doc: Name of the NeXus file written.
outputs:
  integrated:
    format: edam:format_3590
    type: File
    label: Integrated patterns (NeXus)
    doc: NXentry/NXdata with I[frame, radial], its uncertainties and the radial axis with units.
    outputBinding: {glob: $(inputs.output_name)}
