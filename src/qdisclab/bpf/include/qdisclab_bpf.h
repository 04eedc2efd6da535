/* qdisclab_bpf.h: what a BPF program built for qdisclab needs besides vmlinux.h.
 *
 *     #include "vmlinux.h"        // qdisclab bpf header > vmlinux.h
 *     #include "qdisclab_bpf.h"
 *
 * Section and attribute macros, BTF-defined map macros, the helpers and kfuncs
 * qdisclab provides, and bpf_for. No libbpf headers are needed.
 * SPDX-License-Identifier: MIT
 */
#ifndef QDISCLAB_BPF_H
#define QDISCLAB_BPF_H

#ifndef NULL
#define NULL ((void *)0)
#endif

/* ---- sections and attributes --------------------------------------------- */
#define SEC(name) __attribute__((section(name), used))
#define __always_inline inline __attribute__((always_inline))
#define __noinline __attribute__((noinline))
#define __hidden __attribute__((visibility("hidden")))
#define __weak __attribute__((weak))
#define __ksym __attribute__((section(".ksyms")))
#define __kconfig __attribute__((section(".kconfig")))
/* An object pointer the program may own and exchange (bpf_kptr_xchg). */
#define __kptr __attribute__((btf_type_tag("kptr")))
/* A bpf_list_head / bpf_rb_root holding `type` objects linked through `member`. */
#define __contains(type, member) __attribute__((btf_decl_tag("contains:" #type ":" #member)))
/* Globals in their own .data.<name> section: graph roots and the lock guarding them. */
#define private(name) SEC(".data." #name) __hidden __attribute__((aligned(8)))
#define barrier_var(var) asm volatile("" : "+r"(var))

/* ---- BTF-defined maps ------------------------------------------------------ */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]

/* ---- CO-RE ------------------------------------------------------------------ */
#define bpf_core_type_id_local(type) __builtin_btf_type_id(*(typeof(type) *)0, 0)
#define bpf_core_field_exists(field) __builtin_preserve_field_info(field, 2)
#define bpf_core_field_size(field) __builtin_preserve_field_info(field, 1)
#define bpf_core_field_offset(field) __builtin_preserve_field_info(field, 0)
#define bpf_core_field_signed(field) __builtin_preserve_field_info(field, 3)
/* Read a field that is a bitfield in the kernel (tcp_sock.is_cwnd_limited,
 * inet_connection_sock.icsk_ca_state): byte offset, width and shifts all come
 * from CO-RE, so the same object reads it right on qdisclab and on Linux. */
#define BPF_CORE_READ_BITFIELD(s, field)                                             \
	({                                                                           \
		const void *___p = (const void *)(s) +                               \
				   __builtin_preserve_field_info((s)->field, 0);       \
		unsigned long long ___v = 0;                                         \
		switch (__builtin_preserve_field_info((s)->field, 1)) {              \
		case 1: ___v = *(const __u8 *)___p; break;                           \
		case 2: ___v = *(const __u16 *)___p; break;                          \
		case 4: ___v = *(const __u32 *)___p; break;                          \
		case 8: ___v = *(const __u64 *)___p; break;                          \
		}                                                                    \
		___v <<= __builtin_preserve_field_info((s)->field, 4);               \
		if (__builtin_preserve_field_info((s)->field, 3))                    \
			___v = (long long)___v >> __builtin_preserve_field_info((s)->field, 5); \
		else                                                                 \
			___v = ___v >> __builtin_preserve_field_info((s)->field, 5);   \
		___v;                                                                \
	})
#define container_of(ptr, type, member)                                              \
	({                                                                           \
		void *__mptr = (void *)(ptr);                                        \
		((type *)(__mptr - __builtin_offsetof(type, member)));               \
	})

/* ---- struct_ops program arguments ------------------------------------------ */
/* A struct_ops program receives its arguments as an array of u64 (ctx); scalar
 * arguments are converted from that u64, hence the silenced -Wint-conversion. */
#define ___bpf_concat(a, b) a##b
#define ___bpf_apply(fn, n) ___bpf_concat(fn, n)
#define ___bpf_nth(_, _1, _2, _3, _4, _5, _6, N, ...) N
#define ___bpf_narg(...) ___bpf_nth(_, ##__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0)
#define ___bpf_ctx_cast0() ctx
#define ___bpf_ctx_cast1(x) ___bpf_ctx_cast0(), (void *)ctx[0]
#define ___bpf_ctx_cast2(x, args...) ___bpf_ctx_cast1(args), (void *)ctx[1]
#define ___bpf_ctx_cast3(x, args...) ___bpf_ctx_cast2(args), (void *)ctx[2]
#define ___bpf_ctx_cast4(x, args...) ___bpf_ctx_cast3(args), (void *)ctx[3]
#define ___bpf_ctx_cast5(x, args...) ___bpf_ctx_cast4(args), (void *)ctx[4]
#define ___bpf_ctx_cast6(x, args...) ___bpf_ctx_cast5(args), (void *)ctx[5]
#define ___bpf_ctx_cast(args...) ___bpf_apply(___bpf_ctx_cast, ___bpf_narg(args))(args)
#define BPF_PROG(name, args...)                                                      \
	name(unsigned long long *ctx);                                               \
	static __always_inline typeof(name(0)) ____##name(unsigned long long *ctx, ##args); \
	typeof(name(0)) name(unsigned long long *ctx)                                \
	{                                                                            \
		_Pragma("GCC diagnostic push")                                       \
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")              \
		return ____##name(___bpf_ctx_cast(args));                            \
		_Pragma("GCC diagnostic pop")                                        \
	}                                                                            \
	static __always_inline typeof(name(0)) ____##name(unsigned long long *ctx, ##args)

/* ---- helpers (call by id, enum bpf_func_id) --------------------------------- */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value,
				   __u64 flags) = (void *)2;
static long (*bpf_map_delete_elem)(void *map, const void *key) = (void *)3;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static __u32 (*bpf_get_prandom_u32)(void) = (void *)7;
static long (*bpf_skb_store_bytes)(struct __sk_buff *skb, __u32 offset, const void *from,
				   __u32 len, __u64 flags) = (void *)9;
static long (*bpf_skb_load_bytes)(const void *skb, __u32 offset, void *to, __u32 len) = (void *)26;
static __u32 (*bpf_get_hash_recalc)(struct __sk_buff *skb) = (void *)34;
static long (*bpf_spin_lock)(struct bpf_spin_lock *lock) = (void *)93;
static long (*bpf_spin_unlock)(struct bpf_spin_lock *lock) = (void *)94;
static long (*bpf_skb_ecn_set_ce)(struct __sk_buff *skb) = (void *)97;
static long (*bpf_loop)(__u32 nr_loops, void *callback_fn, void *callback_ctx,
			__u64 flags) = (void *)181;
static void *(*bpf_kptr_xchg)(void *map_value, void *ptr) = (void *)194;
static long (*bpf_dynptr_read)(void *dst, __u32 len, const struct bpf_dynptr *src, __u32 offset,
			       __u64 flags) = (void *)201;

/* ---- kfuncs: objects and graphs ----------------------------------------------- */
extern void *bpf_obj_new_impl(__u64 local_type_id, void *meta) __ksym;
extern void bpf_obj_drop_impl(void *kptr, void *meta) __ksym;
extern void *bpf_refcount_acquire_impl(void *kptr, void *meta) __ksym;
extern int bpf_list_push_front_impl(struct bpf_list_head *head, struct bpf_list_node *node,
				    void *meta, __u64 off) __ksym;
extern int bpf_list_push_back_impl(struct bpf_list_head *head, struct bpf_list_node *node,
				   void *meta, __u64 off) __ksym;
extern struct bpf_list_node *bpf_list_pop_front(struct bpf_list_head *head) __ksym;
extern struct bpf_list_node *bpf_list_pop_back(struct bpf_list_head *head) __ksym;
extern struct bpf_list_node *bpf_list_front(struct bpf_list_head *head) __ksym;
extern struct bpf_list_node *bpf_list_back(struct bpf_list_head *head) __ksym;
extern bool bpf_list_empty(struct bpf_list_head *head) __ksym;
extern int bpf_rbtree_add_impl(struct bpf_rb_root *root, struct bpf_rb_node *node,
			       bool (*less)(struct bpf_rb_node *a, const struct bpf_rb_node *b),
			       void *meta, __u64 off) __ksym;
extern struct bpf_rb_node *bpf_rbtree_first(struct bpf_rb_root *root) __ksym;
extern struct bpf_rb_node *bpf_rbtree_remove(struct bpf_rb_root *root,
					     struct bpf_rb_node *node) __ksym;
extern struct bpf_rb_node *bpf_rbtree_root(struct bpf_rb_root *root) __ksym;
extern struct bpf_rb_node *bpf_rbtree_left(struct bpf_rb_root *root,
					   struct bpf_rb_node *node) __ksym;
extern struct bpf_rb_node *bpf_rbtree_right(struct bpf_rb_root *root,
					    struct bpf_rb_node *node) __ksym;

#define bpf_obj_new(type) ((type *)bpf_obj_new_impl(bpf_core_type_id_local(type), NULL))
#define bpf_obj_drop(kptr) bpf_obj_drop_impl(kptr, NULL)
#define bpf_refcount_acquire(kptr) bpf_refcount_acquire_impl(kptr, NULL)
#define bpf_list_push_front(head, node) bpf_list_push_front_impl(head, node, NULL, 0)
#define bpf_list_push_back(head, node) bpf_list_push_back_impl(head, node, NULL, 0)
#define bpf_rbtree_add(root, node, less) bpf_rbtree_add_impl(root, node, less, NULL, 0)

/* ---- kfuncs: the numbers iterator behind bpf_for ---------------------------- */
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

/* for (i = start; i < end; i++), in a form the verifier can bound. */
#define bpf_for(i, start, end)                                                       \
	for (struct bpf_iter_num ___it __attribute__((aligned(8),                    \
						       cleanup(bpf_iter_num_destroy))), \
	     *___p __attribute__((unused)) = (bpf_iter_num_new(&___it, (start), (end)), \
					       (void)bpf_iter_num_destroy, (void *)0); \
	     ({                                                                       \
		     int *___t = bpf_iter_num_next(&___it);                           \
		     (___t && ((i) = *___t, 1));                                      \
	     });)

/* ---- kfuncs: the BPF qdisc ---------------------------------------------------- */
extern void bpf_qdisc_skb_drop(struct sk_buff *skb, struct bpf_sk_buff_ptr *to_free) __ksym;
extern void bpf_kfree_skb(struct sk_buff *skb) __ksym;
extern void bpf_qdisc_watchdog_schedule(struct Qdisc *sch, __u64 expire, __u64 delta_ns) __ksym;
extern __u32 bpf_skb_get_hash(struct sk_buff *skb) __ksym;
extern int bpf_dynptr_from_skb(struct __sk_buff *skb, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym;
/* qdisclab's classful kfuncs: children addressed by class id (major:minor). */
extern int bpf_qdisc_create_child(struct Qdisc *sch, __u32 minor, const char *spec__str) __ksym;
extern int bpf_qdisc_enqueue(struct sk_buff *skb, struct Qdisc *sch, __u32 classid,
			     struct bpf_sk_buff_ptr *to_free) __ksym;
extern struct sk_buff *bpf_qdisc_dequeue(struct Qdisc *sch, __u32 classid) __ksym;
extern struct sk_buff *bpf_qdisc_peek(struct Qdisc *sch, __u32 classid) __ksym;
extern struct Qdisc *bpf_qdisc_find_class(struct Qdisc *sch, __u32 classid) __ksym;
extern __u32 bpf_skb_tc_classify(struct sk_buff *skb, struct Qdisc *sch) __ksym;

/* ---- kfuncs: TCP congestion control ------------------------------------------- */
extern __u32 tcp_slow_start(struct tcp_sock *tp, __u32 acked) __ksym;
extern void tcp_cong_avoid_ai(struct tcp_sock *tp, __u32 w, __u32 acked) __ksym;
extern __u32 tcp_reno_ssthresh(struct sock *sk) __ksym;
extern void tcp_reno_cong_avoid(struct sock *sk, __u32 ack, __u32 acked) __ksym;
extern __u32 tcp_reno_undo_cwnd(struct sock *sk) __ksym;

/* ---- return codes and constants ------------------------------------------------ */
#define NET_XMIT_SUCCESS 0x00
#define NET_XMIT_DROP 0x01
#define NET_XMIT_CN 0x02
#define TC_ACT_UNSPEC (-1)
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TCX_NEXT (-1)
#define TCX_PASS 0
#define TCX_DROP 2
#define TCX_REDIRECT 7
#define NETKIT_NEXT (-1)
#define NETKIT_PASS 0
#define NETKIT_DROP 2
#define NETKIT_REDIRECT 7
#define TC_H_MAJ(h) ((h) & 0xFFFF0000U)
#define TC_H_MIN(h) ((h) & 0x0000FFFFU)
#define TC_H_MAKE(maj, min) (((maj) & 0xFFFF0000U) | ((min) & 0x0000FFFFU))
#define TCP_ECN_OK 1
#define TCP_ECN_QUEUE_CWR 2
#define TCP_ECN_DEMAND_CWR 4
#define TCP_ECN_SEEN 8
#define TCP_CONG_NEEDS_ECN 0x2
#define TCP_INFINITE_SSTHRESH 0x7fffffff
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define BPF_ANY 0
#define BPF_NOEXIST 1
#define BPF_EXIST 2
#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_LRU_HASH 9
#define BPF_MAP_TYPE_ARRAY_OF_MAPS 12
#define BPF_MAP_TYPE_HASH_OF_MAPS 13
#define BPF_F_NO_PREALLOC (1U << 0)

#endif /* QDISCLAB_BPF_H */
