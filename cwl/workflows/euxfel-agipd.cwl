#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
id: euxfel-agipd
label: "European XFEL AGIPD-1M powder run: validate, virtual CXI, notebook dark calibration, assemble, integrate"
doc: |
  The path of a European XFEL AGIPD-1M run to powder patterns with the facility's own libraries:
  the run folder is validated (extra-data-validate) and exposed as one virtual CXI array
  (extra-data-make-virtual-cxi, no copy); the dark frames and the selected frames are split into one
  dark file and one data file per module (agipd-split-modules), and the detector-calibration.cwl
  subworkflow runs the dark-calibration and correct notebooks (papermill) on every module in
  parallel: per-pixel offsets, noise and bad pixels, offset-corrected frames (bad pixels NaN) and an
  HTML report per module. The 16 corrected modules are stacked back into one array
  (agipd-stack-modules), assembled into 2D images with the extra-geom geometry, and azimuthally
  integrated with pyFAI using the PONI exported from that same geometry (the geometry is also
  exported as CrystFEL .geom and as a pyFAI NXdetector file).
  The notebooks start a kernel per module and step (32 notebook runs): use `cwltool --parallel`.
  (agipd-dark-constants.cwl and agipd-correct.cwl do the same offset correction in one process each.)
  Data: `panosc-cwl euxfel simulate -o data/euxfel`; run:
  `cwltool cwl/workflows/euxfel-agipd.cwl jobs/euxfel-agipd.yml`
  (or `toil-cwl-runner ...`, or `panosc-cwl run ...`; jobs/euxfel-agipd-locator.yml names the run
  with a facility locator instead of a path).
$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"
requirements:
  MultipleInputFeatureRequirement: {}
  SubworkflowFeatureRequirement: {}
hints:
  SoftwareRequirement:
    packages:
      papermill:
        version: [">=2.6"]
        specs: ["https://pypi.org/project/papermill/"]
      extra-data:
        version: [">=1.20,<2"]
        specs: ["https://pypi.org/project/extra-data/"]
      extra-geom:
        version: [">=1.10,<2"]
        specs: ["https://pypi.org/project/extra-geom/"]
      pyFAI:
        version: [">=2024.1,<2027"]
        specs: ["https://pypi.org/project/pyFAI/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
inputs:
  run:
    type: Directory
    label: Run folder
    doc: European XFEL run folder with the AGIPD module files (raw data).
  geometry:
    format: edam:format_2330
    type: File?
    label: Geometry (CrystFEL)
    doc: CrystFEL .geom file of the AGIPD-1M; without it, quad_positions are used.
  quad_positions:
    type: string?
    label: Quadrant positions
    doc: Quadrant corners 'x,y x,y x,y x,y' in pixels, if no .geom file is given (default - extra-geom's SPB example).
  dark_frames:
    type: string
    label: Dark frames
    doc: Frames of the virtual CXI file without X-rays, A:B (e.g. 64:72 = pulses 0-7 of the second train).
  offset_sigma:
    type: float
    default: 5.0
    label: Offset threshold
    doc: Pixels whose offset is further than this many robust standard deviations from the module median are bad.
  noise_low:
    type: float
    default: 0.2
    label: Dead-pixel threshold
    doc: Pixels with noise below this fraction of the median noise are dead.
  noise_high:
    type: float
    default: 3.0
    label: Noisy-pixel threshold
    doc: Pixels with noise above this multiple of the median noise are noisy.
  frames:
    type: string
    label: Frames to integrate
    doc: Frames of the virtual CXI file to correct, assemble and integrate, A:B or i,j,k.
  distance_mm:
    type: float
    label: Sample-detector distance (mm)
    doc: Distance from the sample to the detector plane, in millimetres.
  wavelength_angstrom:
    type: float
    label: Wavelength (Å)
    doc: X-ray wavelength in ångström.
  npt:
    type: int
    default: 1000
    label: Radial bins
    doc: Number of radial bins of the integrated patterns.
  unit:
    type:
      type: enum
      name: radial_unit
      symbols: [2th_deg, q_nm^-1, q_A^-1, r_mm]
    default: 2th_deg
    label: Radial unit
    doc: Unit of the radial axis.
outputs:
  validation:
    format: edam:format_2330
    type: File
    label: Validation report
    doc: Report of extra-data-validate.
    outputSource: validate/report
  cxi:
    format: edam:format_3590
    type: File
    label: Virtual CXI file
    doc: All modules as one virtual array (open with HDF5_VDS_PREFIX set to the run folder).
    outputSource: virtual_cxi/cxi
  constants:
    format: edam:format_3590
    type: File[]
    label: Dark constants
    doc: NeXus offset, noise and bad-pixel map of each module (darks_mMM-constants.nxs, module order).
    outputSource: calibration/constants
  calibration_reports:
    format: edam:format_2331
    type: File[]
    label: Dark-calibration reports
    doc: HTML report of each module's dark-calibration notebook.
    outputSource: calibration/calibration_reports
  correction_reports:
    format: edam:format_2331
    type: File[]
    label: Correction reports
    doc: HTML report of each module's correct notebook.
    outputSource: calibration/correction_reports
  corrected_modules:
    format: edam:format_3590
    type: File[]
    label: Corrected modules
    doc: Offset-corrected frames of each module (data_mMM-corrected.h5), as the notebooks wrote them.
    outputSource: calibration/corrected
  assembled:
    format: edam:format_3590
    type: File
    label: Assembled images
    doc: Corrected frames as 2D images, /entry/data/data [frame, y, x].
    outputSource: assemble/assembled
  poni:
    format: edam:format_2330
    type: File
    label: PONI of assembled images
    doc: pyFAI geometry used for the integration.
    outputSource: export_geometry/poni
  crystfel_geometry:
    format: edam:format_2330
    type: File
    label: CrystFEL geometry
    doc: CrystFEL .geom with clen and photon energy.
    outputSource: export_geometry/crystfel
  pyfai_detector:
    format: edam:format_3590
    type: File
    label: pyFAI NXdetector
    doc: Pixel corners of every module pixel, for module-level pyFAI work.
    outputSource: export_geometry/pyfai_detector
  integrated:
    format: edam:format_3590
    type: File
    label: Integrated patterns
    doc: NeXus file with I[frame, radial] from pyFAI.
    outputSource: integrate/integrated
steps:
  validate:
    label: Validate the run folder
    run: ../tools/euxfel-validate.cwl
    in:
      run: run
    out: [report]
  virtual_cxi:
    label: Virtual CXI file of the detector
    run: ../tools/euxfel-virtual-cxi.cwl
    in:
      run: run
    out: [cxi]
  split:
    label: One dark and one data file per module
    run: ../tools/agipd-split-modules.cwl
    in:
      cxi: virtual_cxi/cxi
      run: run
      dark_frames: dark_frames
      frames: frames
    out: [darks, data]
  calibration:
    label: Dark calibration and correction of each module (notebooks)
    run: detector-calibration.cwl
    requirements:
      # a notebook step mostly waits on its kernel (start, messages): half a core each lets a
      # runner run twice as many of the 32 steps at a time
      ResourceRequirement: {coresMin: 0.5, ramMin: 512}
    in:
      darks: split/darks
      data: split/data
      offset_sigma: offset_sigma
      noise_low: noise_low
      noise_high: noise_high
    out: [constants, corrected, calibration_reports, correction_reports]
  stack:
    label: Corrected modules back into one array
    run: ../tools/agipd-stack-modules.cwl
    in:
      corrected: calibration/corrected
    out: [corrected_stack]
  assemble:
    label: Assemble module images
    run: ../tools/agipd-assemble.cwl
    in:
      corrected: stack/corrected_stack
      geometry: geometry
      quad_positions: quad_positions
    out: [assembled]
  export_geometry:
    label: Geometry for pyFAI and CrystFEL
    run: ../tools/agipd-geometry-export.cwl
    in:
      geometry: geometry
      quad_positions: quad_positions
      distance_mm: distance_mm
      wavelength_angstrom: wavelength_angstrom
    out: [poni, crystfel, pyfai_detector]
  integrate:
    label: Azimuthal integration (pyFAI)
    run: ../tools/pyfai-integrate1d.cwl
    in:
      frames:
        source: [assemble/assembled]
        linkMerge: merge_flattened
      dataset: {default: /entry/data/data}
      poni: export_geometry/poni
      npt: npt
      unit: unit
    out: [integrated]
