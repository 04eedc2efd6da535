// SPDX-License-Identifier: MIT
/* A fair-queueing qdisc in BPF for qdisclab: per-flow queues served by
 * deficit round robin, with earliest-departure-time pacing.
 *
 *  - a flow map (hash, keyed by flow bucket) holds each flow's packet list,
 *    its credit and its state;
 *  - new and old flow lists (bpf_list of program-allocated links) give new
 *    flows one initial quantum of priority, as Linux's fq does;
 *  - flows whose next packet is not due yet (skb->tstamp in the future) wait
 *    in an rbtree ordered by due time; dequeue moves due flows back and arms
 *    the watchdog for the earliest one otherwise.
 *
 *   qdisclab bpf build examples/bpf/fq.bpf.c
 */
#include "vmlinux.h"
#include "qdisclab_bpf.h"

char _license[] SEC("license") = "Dual MIT/GPL";

#define FQ_BUCKETS 1024
#define ETH_HLEN 14

enum { FLOW_IDLE, FLOW_NEW, FLOW_OLD, FLOW_THROTTLED };

/* Parameters as Linux's fq defaults: quantum 2 MTU, initial quantum 10 MTU. */
const volatile __u32 flow_limit = 100;
const volatile __u32 quantum_mtus = 2;
const volatile __u32 initial_quantum_mtus = 10;
const volatile __u32 max_scan = 64; /* flows visited per dequeue */

struct fq_pkt {
	struct bpf_list_node link;
	struct sk_buff __kptr *skb;
};

struct fq_flow {
	struct bpf_spin_lock lock;
	struct bpf_list_head queue __contains(fq_pkt, link);
	__u64 time_next_packet;
	__s32 credit;
	__u32 qlen;
	__u32 state;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct fq_flow);
	__uint(max_entries, FQ_BUCKETS);
} fq_flows SEC(".maps");

/* A flow's place on the new or old list. */
struct fq_link {
	struct bpf_list_node node;
	__u32 bucket;
};

/* A throttled flow, keyed by when its next packet is due. */
struct fq_wait {
	struct bpf_rb_node rb;
	__u64 due;
	__u32 bucket;
};

private(fq_lists) struct bpf_spin_lock fq_lists_lock;
private(fq_lists) struct bpf_list_head new_flows __contains(fq_link, node);
private(fq_lists) struct bpf_list_head old_flows __contains(fq_link, node);

private(fq_tree) struct bpf_spin_lock fq_tree_lock;
private(fq_tree) struct bpf_rb_root throttled __contains(fq_wait, rb);

static bool wait_less(struct bpf_rb_node *a, const struct bpf_rb_node *b)
{
	struct fq_wait *wa = container_of(a, struct fq_wait, rb);
	struct fq_wait *wb = container_of(b, struct fq_wait, rb);

	return wa->due < wb->due;
}

static __always_inline __u32 mtu_of(struct Qdisc *sch)
{
	return sch->dev_queue->dev->mtu + ETH_HLEN;
}

/* Put the flow in `bucket` at the tail (or head) of the new or old list. */
static __always_inline int link_flow(__u32 bucket, bool is_new, bool at_head)
{
	struct fq_link *l = bpf_obj_new(typeof(*l));

	if (!l)
		return -1;
	l->bucket = bucket;
	bpf_spin_lock(&fq_lists_lock);
	if (is_new && at_head)
		bpf_list_push_front(&new_flows, &l->node);
	else if (is_new)
		bpf_list_push_back(&new_flows, &l->node);
	else if (at_head)
		bpf_list_push_front(&old_flows, &l->node);
	else
		bpf_list_push_back(&old_flows, &l->node);
	bpf_spin_unlock(&fq_lists_lock);
	return 0;
}

/* Take the first flow of the new list, else of the old list; *is_new says which. */
static __always_inline int unlink_first(bool *is_new)
{
	struct bpf_list_node *n;
	struct fq_link *l;
	__u32 bucket;

	bpf_spin_lock(&fq_lists_lock);
	n = bpf_list_pop_front(&new_flows);
	*is_new = n != NULL;
	if (!n)
		n = bpf_list_pop_front(&old_flows);
	bpf_spin_unlock(&fq_lists_lock);
	if (!n)
		return -1;
	l = container_of(n, struct fq_link, node);
	bucket = l->bucket;
	bpf_obj_drop(l);
	return bucket;
}

static __always_inline void throttle(__u32 bucket, __u64 due)
{
	struct fq_wait *w = bpf_obj_new(typeof(*w));

	if (!w)
		return;
	w->due = due;
	w->bucket = bucket;
	bpf_spin_lock(&fq_tree_lock);
	bpf_rbtree_add(&throttled, &w->rb, wait_less);
	bpf_spin_unlock(&fq_tree_lock);
}

/* Move flows whose time has come back to the old list; return the next due time (0: none). */
static __always_inline __u64 unthrottle(__u64 now)
{
	struct bpf_rb_node *rb;
	struct fq_wait *w;
	struct fq_flow *flow;
	__u64 next = 0;
	__u32 bucket;
	int i;

	bpf_for(i, 0, FQ_BUCKETS) {
		bpf_spin_lock(&fq_tree_lock);
		rb = bpf_rbtree_first(&throttled);
		if (!rb) {
			bpf_spin_unlock(&fq_tree_lock);
			break;
		}
		w = container_of(rb, struct fq_wait, rb);
		if (w->due > now) {
			next = w->due;
			bpf_spin_unlock(&fq_tree_lock);
			break;
		}
		rb = bpf_rbtree_remove(&throttled, &w->rb);
		bpf_spin_unlock(&fq_tree_lock);
		if (!rb)
			break;
		w = container_of(rb, struct fq_wait, rb);
		bucket = w->bucket;
		bpf_obj_drop(w);
		flow = bpf_map_lookup_elem(&fq_flows, &bucket);
		if (flow && flow->state == FLOW_THROTTLED) {
			flow->state = FLOW_OLD;
			link_flow(bucket, false, false);
		}
	}
	return next;
}

static __always_inline struct sk_buff *flow_pop(struct fq_flow *flow)
{
	struct bpf_list_node *n;
	struct fq_pkt *pkt;
	struct sk_buff *skb;

	bpf_spin_lock(&flow->lock);
	n = bpf_list_pop_front(&flow->queue);
	bpf_spin_unlock(&flow->lock);
	if (!n)
		return NULL;
	pkt = container_of(n, struct fq_pkt, link);
	skb = bpf_kptr_xchg(&pkt->skb, NULL);
	bpf_obj_drop(pkt);
	if (skb)
		flow->qlen--;
	return skb;
}

/* Queue an owned skb at the head or tail of a flow; on failure it is dropped. */
static __always_inline int flow_push(struct fq_flow *flow, struct sk_buff *skb, bool at_head,
				     struct bpf_sk_buff_ptr *to_free)
{
	struct fq_pkt *pkt = bpf_obj_new(typeof(*pkt));

	if (!pkt) {
		if (to_free)
			bpf_qdisc_skb_drop(skb, to_free);
		else
			bpf_kfree_skb(skb);
		return -1;
	}
	skb = bpf_kptr_xchg(&pkt->skb, skb);
	if (skb)
		bpf_kfree_skb(skb);
	bpf_spin_lock(&flow->lock);
	if (at_head)
		bpf_list_push_front(&flow->queue, &pkt->link);
	else
		bpf_list_push_back(&flow->queue, &pkt->link);
	bpf_spin_unlock(&flow->lock);
	flow->qlen++;
	return 0;
}

SEC("struct_ops/fq_enqueue")
int BPF_PROG(fq_enqueue, struct sk_buff *skb, struct Qdisc *sch, struct bpf_sk_buff_ptr *to_free)
{
	struct fq_flow *flow, empty = {};
	__u32 bucket, len = skb->len;

	if (sch->q.qlen >= sch->limit)
		goto drop;
	bucket = bpf_skb_get_hash(skb) % FQ_BUCKETS;
	flow = bpf_map_lookup_elem(&fq_flows, &bucket);
	if (!flow) {
		bpf_map_update_elem(&fq_flows, &bucket, &empty, BPF_NOEXIST);
		flow = bpf_map_lookup_elem(&fq_flows, &bucket);
		if (!flow)
			goto drop;
	}
	if (flow->qlen >= flow_limit)
		goto drop;
	if (flow_push(flow, skb, false, to_free))
		return NET_XMIT_DROP;
	if (flow->state == FLOW_IDLE) {
		flow->state = FLOW_NEW;
		flow->credit = initial_quantum_mtus * mtu_of(sch);
		link_flow(bucket, true, false);
	}
	sch->q.qlen++;
	sch->qstats.backlog += len;
	return NET_XMIT_SUCCESS;
drop:
	bpf_qdisc_skb_drop(skb, to_free);
	return NET_XMIT_DROP;
}

SEC("struct_ops/fq_dequeue")
struct sk_buff *BPF_PROG(fq_dequeue, struct Qdisc *sch)
{
	__u64 now = bpf_ktime_get_ns(), next;
	struct fq_flow *flow;
	struct sk_buff *skb;
	bool is_new;
	int i, bucket;
	__u32 key;

	next = unthrottle(now);
	bpf_for(i, 0, max_scan) {
		bucket = unlink_first(&is_new);
		if (bucket < 0)
			break;
		key = bucket;
		flow = bpf_map_lookup_elem(&fq_flows, &key);
		if (!flow)
			continue;
		if (flow->credit <= 0) { /* used its share: to the tail of the old list */
			flow->credit += quantum_mtus * mtu_of(sch);
			flow->state = FLOW_OLD;
			link_flow(key, false, false);
			continue;
		}
		skb = flow_pop(flow);
		if (!skb) {
			if (is_new) { /* an emptied new flow yields to the old ones once */
				flow->state = FLOW_OLD;
				link_flow(key, false, false);
			} else {
				flow->state = FLOW_IDLE;
			}
			continue;
		}
		if (skb->tstamp > now) { /* not due yet: park the flow until it is */
			flow->time_next_packet = skb->tstamp;
			flow_push(flow, skb, true, NULL);
			flow->state = FLOW_THROTTLED;
			throttle(key, flow->time_next_packet);
			if (!next || flow->time_next_packet < next)
				next = flow->time_next_packet;
			continue;
		}
		flow->credit -= skb->len;
		link_flow(key, is_new, true); /* it keeps its turn until the credit is spent */
		sch->q.qlen--;
		sch->qstats.backlog -= skb->len;
		return skb;
	}
	if (next)
		bpf_qdisc_watchdog_schedule(sch, next, 0);
	return NULL;
}

SEC("struct_ops/fq_init")
int BPF_PROG(fq_init, struct Qdisc *sch, struct nlattr *opt, struct netlink_ext_ack *extack)
{
	if (!sch->limit)
		sch->limit = 10000; /* fq's default packet limit */
	return 0;
}

SEC("struct_ops/fq_reset")
void BPF_PROG(fq_reset, struct Qdisc *sch)
{
	struct fq_flow *flow;
	struct sk_buff *skb;
	bool is_new;
	int i, bucket;
	__u32 key;

	/* Free every queued packet, flow by flow, then forget the flows. */
	bpf_for(key, 0, FQ_BUCKETS) {
		flow = bpf_map_lookup_elem(&fq_flows, &key);
		if (!flow)
			continue;
		bpf_for(i, 0, flow_limit) {
			skb = flow_pop(flow);
			if (!skb)
				break;
			bpf_kfree_skb(skb);
		}
		bpf_map_delete_elem(&fq_flows, &key);
	}
	bpf_for(i, 0, FQ_BUCKETS) {
		bucket = unlink_first(&is_new);
		if (bucket < 0)
			break;
	}
	unthrottle(~0ULL);
	bpf_for(i, 0, FQ_BUCKETS) {
		bucket = unlink_first(&is_new);
		if (bucket < 0)
			break;
	}
	sch->q.qlen = 0;
	sch->qstats.backlog = 0;
}

SEC("struct_ops/fq_destroy")
void BPF_PROG(fq_destroy, struct Qdisc *sch)
{
}

SEC(".struct_ops.link")
struct Qdisc_ops fq = {
	.enqueue = (void *)fq_enqueue,
	.dequeue = (void *)fq_dequeue,
	.init = (void *)fq_init,
	.reset = (void *)fq_reset,
	.destroy = (void *)fq_destroy,
	.id = "bpf_fq",
};
