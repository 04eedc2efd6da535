#!/usr/bin/env bash
# Debian packages used by tests that drive real tools: tcpdump reads our pcaps,
# iproute2/iperf3/ping/ethtool drive live mode between network namespaces, and
# clang-19 compiles BPF C (Debian's default clang 14 drops the __kptr type tag),
# libbpf1 lets `qdisclab bpf verify` load objects through the host kernel's verifier.
# Skipped quietly when not root or when apt is unavailable: those tests then skip.
set -u
need=()
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
command -v clang-19 >/dev/null 2>&1 || need+=(clang-19)
ldconfig -p 2>/dev/null | grep -q 'libbpf\.so\.1' || need+=(libbpf1)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: not root or no apt-get; tests needing ${need[*]} will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
  || echo "install-test-deps: could not install ${need[*]}; those tests will skip" >&2
exit 0
