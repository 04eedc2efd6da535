// SPDX-License-Identifier: MIT
/* Every map type qdisclab implements, defined the BTF way, and a map value
 * holding graph roots; read by tests/bpf/test_maps_btf.py. */
#include "vmlinux.h"
#include "qdisclab_bpf.h"

char _license[] SEC("license") = "Dual MIT/GPL";

struct flow_key {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
};

struct item {
	struct bpf_rb_node rb;
	__u64 key;
};

struct bucket {
	struct bpf_spin_lock lock;
	struct bpf_rb_root items __contains(item, rb);
	struct sk_buff __kptr *stash;
	__u64 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct flow_key);
	__type(value, __u64);
	__uint(max_entries, 128);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct bucket);
	__uint(max_entries, 8);
} buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 16);
} recent SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, 2);
	__array(values, struct inner);
} per_band SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, 3);
	__array(values, struct inner);
} per_class SEC(".maps");

/* A real bpf-to-bpf call (not inlined), for the linker's tests. */
static __noinline int bump(struct bucket *b, __u64 n)
{
	b->count += n;
	return 0;
}

SEC("tc")
int touch_maps(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct flow_key k = { .sport = 1 };
	__u64 *v = bpf_map_lookup_elem(&flows, &k);
	struct bucket *b = bpf_map_lookup_elem(&buckets, &zero);
	void *inner = bpf_map_lookup_elem(&per_band, &zero);
	void *inner2 = bpf_map_lookup_elem(&per_class, &zero);

	if (v && b && inner && inner2 && bpf_map_lookup_elem(&recent, &zero))
		return bump(b, *v);
	return TC_ACT_OK;
}
