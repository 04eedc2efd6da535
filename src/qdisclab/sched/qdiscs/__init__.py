"""Built-in qdiscs, one per file, each written against the public ``QdiscOps`` interface.

Every module here registers its kind on import; ``ops.BUILTIN_QDISCS`` names the
module of each kind, imported the first time the kind is used.
"""
