"""The wire: the ``.proto`` schemas, the modules generated from them, and the one codec to plain types."""
