"""panosc-cwl: facility analysis codes as typed CWL tools and workflows, with provenance in NeXus."""

__version__ = "0.1.0"
