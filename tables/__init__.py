"""Table specs (TOML), installed as the package osq_esf._specs; see schema.py."""
