"""Compiled BPF programs in qdisclab: the ISA, its engines and their memory.

Execution: :mod:`~qdisclab.bpf.isa` (opcodes, decoding),
:mod:`~qdisclab.bpf.asm` (assembler/disassembler), :mod:`~qdisclab.bpf.memory`
(bounds-checked regions), :mod:`~qdisclab.bpf.image` (linking through a
:class:`~qdisclab.bpf.resolver.Resolver`), the reference
:class:`~qdisclab.bpf.interp.Interpreter` and the
:class:`~qdisclab.bpf.translate.Translated` engine that compiles a program
to Python once.
"""
