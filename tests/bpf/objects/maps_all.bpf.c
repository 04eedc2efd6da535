// SPDX-License-Identifier: MIT
/* Every map type qdisclab implements, defined the BTF way, a map value
 * holding graph roots, kconfig externs and a bpf-to-bpf call; read by
 * tests/bpf/test_maps_btf.py and test_objects.py. */
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

extern unsigned long CONFIG_HZ __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;
extern int CONFIG_QDISCLAB_NOPE __kconfig __weak; /* not provided: reads as 0 */

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
		return bump(b, *v + CONFIG_HZ + CONFIG_BPF_SYSCALL + CONFIG_QDISCLAB_NOPE);
	return TC_ACT_OK;
}
