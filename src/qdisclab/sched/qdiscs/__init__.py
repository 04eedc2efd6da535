"""Built-in qdiscs, one per file, each written against the public ``QdiscOps`` interface.

Every module here registers its kind on import; ``load_builtins`` imports them all.
"""
