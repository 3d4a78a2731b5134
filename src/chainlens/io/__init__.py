"""Adapters: vendor files in, canonical Arrow tables (``chainlens.schema``) plus rejects out.

Formats: the Cboe quote-table CSV, Cboe DataShop option trades and EOD calcs, OCC open-interest
history JSON, Barchart SPX after-close snapshot JSON, saved Cboe delayed-quotes JSON, generic CSV/Parquet through a TOML column mapping (``MAPPINGS.md``), canonical
Parquet, and zip archives of those (nested zips too; each contract of a snapshot kept once). ``read_file`` detects the format from the content and streams batches; every batch
satisfies ``rows_read == accepted + rejected``.
"""

from chainlens.io._common import AdapterResult
from chainlens.io._detect import KNOWN_FORMATS, detect_format, read_chain, read_file

__all__ = ["KNOWN_FORMATS", "AdapterResult", "detect_format", "read_chain", "read_file"]
