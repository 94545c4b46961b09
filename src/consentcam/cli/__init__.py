"""The ``consentcam`` command line: a thin layer over the library."""
