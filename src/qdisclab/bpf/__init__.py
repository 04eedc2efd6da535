"""Compiled BPF objects in qdisclab: reader, kernel types, executors.

The reader (:mod:`qdisclab.bpf.elf`, :mod:`qdisclab.bpf.btf`,
:mod:`qdisclab.bpf.objects`) turns a clang-built ``.bpf.o`` into
:class:`~qdisclab.bpf.program.BpfProgram` values, maps, global data and
struct_ops maps; the executors run those programs.
"""
