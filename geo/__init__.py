"""GapMap spatial engine: CRS choice, networks, rasters and the analyses."""

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())
