typedef unsigned int __u32;
typedef unsigned long long __u64;
#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

struct __sk_buff { __u32 len; __u32 pad1; __u32 mark; __u32 pad2[16]; __u32 data; __u32 data_end; };
struct val { __u64 pkts; __u64 bytes; };
struct { __uint(type, 2); __uint(max_entries, 64); __type(key, __u32); __type(value, struct val); } counts SEC(".maps");
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;

SEC("tcx/ingress") int count(struct __sk_buff *skb)
{
	unsigned char *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
#ifdef BUG_OOB
	if (data + 13 > data_end)
#else
	if (data + 14 > data_end)
#endif
		return 0;
	__u32 key = data[13] & 63;
	struct val *v = bpf_map_lookup_elem(&counts, &key);
#ifndef BUG_NULL
	if (!v)
		return 0;
#endif
	v->pkts += 1;
	v->bytes += skb->len;
	skb->mark = 1;
#ifdef BUG_RET
	return data[12] & 15;
#else
	return 0;
#endif
}
