typedef unsigned int __u32;
typedef unsigned long long __u64;
#define SEC(n) __attribute__((section(n), used))
#define __ksym __attribute__((section(".ksyms")))
struct sk_buff;
struct bpf_sk_buff_ptr;
struct Qdisc { char pad[32]; __u32 limit; char pad2[12]; __u32 qlen; };
extern void bpf_qdisc_skb_drop(struct sk_buff *skb, struct bpf_sk_buff_ptr *to_free) __ksym;
extern void bpf_kfree_skb(struct sk_buff *skb) __ksym;

SEC("struct_ops/enqueue") int enqueue(__u64 *ctx)
{
	struct sk_buff *skb = (void *)ctx[0];
	struct Qdisc *sch = (void *)ctx[1];
	struct bpf_sk_buff_ptr *to_free = (void *)ctx[2];
	if (sch->qlen >= sch->limit) {
#ifndef BUG_LEAK
		bpf_qdisc_skb_drop(skb, to_free);
#endif
		return 1;
	}
	bpf_kfree_skb(skb);
#ifdef BUG_UAF
	bpf_kfree_skb(skb);
#endif
	return 0;
}
