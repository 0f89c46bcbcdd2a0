#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
id: tomo
label: "Tomography: simulate NXtomo, nabu config, nabu reconstruction, plot"
doc: |
  Simulates a Shepp-Logan scan (darks, flats, projections, axis off-centre) as NXtomo, writes the
  nabu configuration (centre-of-rotation method, phase retrieval, output format), reconstructs
  with nabu (GPU node) or its CPU path, and plots the middle slice beside the phantom with the
  estimated axis and the correlation. The reconstruct step's GPU request is in
  `../gpu-overrides.yml` (`--overrides`; Toil on SLURM then asks for --gres=gpu:1), so on a
  machine without a GPU the workflow runs as it is, the reconstruction on its CPU path.
  Run: `panosc-cwl run cwl/workflows/tomo.cwl jobs/tomo.yml --outdir out/tomo`.

$namespaces:
  edam: http://edamontology.org/
  s: https://schema.org/
  cwltool: http://commonwl.org/cwltool#
$schemas: [../edam-subset.owl]
s:author:
  - s:name: panosc-cwl developers
s:license: https://spdx.org/licenses/MIT
s:dateCreated: "2026-11-25"
hints:
  SoftwareRequirement:
    packages:
      nabu:
        version: [">=2024.1,<2027"]
        specs: ["https://pypi.org/project/nabu/"]
      nxtomo:
        version: [">=1.0"]
        specs: ["https://pypi.org/project/nxtomo/"]
      panosc-cwl:
        version: ["0.1"]
        specs: ["https://pypi.org/project/panosc-cwl/"]
inputs:
  size:
    type: int
    default: 256
    label: Detector width (px)
    doc: Width of the detector and of the slices.
  slices:
    type: int
    default: 16
    label: Slices
    doc: Detector rows, i.e. slices reconstructed.
  angles:
    type: int
    default: 360
    label: Projections
    doc: Number of projections over 360 degrees.
  cor_offset:
    type: float
    default: 5.0
    label: Axis offset (px)
    doc: True rotation-axis position minus the detector centre.
  cor_method:
    type:
      type: enum
      name: nabu_cor_method
      symbols: [centered, global, sliding-window, growing-window, sino-coarse-to-fine, composite-coarse-to-fine, fourier-angles, octave-accurate]
    default: sliding-window
    label: Centre-of-rotation method
    doc: nabu's axis estimator.
  phase:
    type:
      type: enum
      name: nabu_phase
      symbols: ["none", paganin, CTF]
    default: "none"
    label: Phase retrieval
    doc: none, paganin or CTF.
  output_format:
    type:
      type: enum
      name: nabu_output_format
      symbols: [hdf5, tiff]
    default: hdf5
    label: Output format
    doc: Format of nabu's volume (the CPU path writes hdf5).
outputs:
  nxtomo:
    format: edam:format_3590
    type: File
    label: Simulated scan (NXtomo)
    doc: Darks, flats, projections.
    outputSource: simulate/nxtomo
  config:
    format: edam:format_2330
    type: File
    label: nabu configuration
    doc: The .conf used.
    outputSource: configure/config
  volume:
    format: edam:format_3590
    type: File
    label: Reconstructed volume
    doc: HDF5, 1/cm.
    outputSource: reconstruct/volume
  plot:
    format: edam:format_3603
    type: File
    label: Slice plot
    doc: Middle slice beside the phantom.
    outputSource: show/plot
  score:
    format: edam:format_3464
    type: File?
    label: Score (JSON)
    doc: Centre-of-rotation error and Pearson r per slice.
    outputSource: show/score
steps:
  simulate:
    label: Shepp-Logan scan as NXtomo
    run: ../tools/tomo-simulate.cwl
    in:
      size: size
      slices: slices
      angles: angles
      cor_offset: cor_offset
    out: [nxtomo, truth]
  configure:
    label: nabu-config with the chosen options
    run: ../tools/nabu-config.cwl
    in:
      dataset: simulate/nxtomo
      cor_method: cor_method
      phase: phase
      output_format: output_format
    out: [config]
  reconstruct:
    label: nabu reconstruction
    run: ../tools/nabu-reconstruct.cwl
    in:
      config: configure/config
      dataset: simulate/nxtomo
    out: [volume]
  show:
    label: Middle slice vs phantom
    run: ../tools/tomo-plot.cwl
    in:
      volume: reconstruct/volume
      truth: simulate/truth
    out: [plot, score]
