// SPDX-License-Identifier: GPL-2.0
/*
 * modbtf_sample: an out-of-tree module whose types embed kernel structs by
 * value (list_head, mutex, work_struct, kref) and point to others (sk_buff,
 * file), so its BTF refers to vmlinux types both ways.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <linux/kref.h>
#include <linux/skbuff.h>
#include <linux/fs.h>
#include <linux/slab.h>

static int depth = 4;
module_param(depth, int, 0444);
MODULE_PARM_DESC(depth, "how many sample entries to create at load");

struct modbtf_sample_entry {
	struct list_head node;		/* embedded kernel struct */
	struct kref ref;
	unsigned long cookie;
	struct sk_buff *skb;		/* pointer to a kernel struct */
	struct file *filp;
	unsigned int flags : 3;
	unsigned int busy : 1;
};

struct modbtf_sample_state {
	struct mutex lock;		/* embedded */
	struct work_struct work;	/* embedded, itself embeds list_head */
	struct list_head entries;
	const struct modbtf_sample_entry *last;
	int (*visit)(struct modbtf_sample_entry *e, void *arg);
	u64 counters[4];
};

static struct modbtf_sample_state state;

static void modbtf_sample_release(struct kref *ref)
{
	kfree(container_of(ref, struct modbtf_sample_entry, ref));
}

int modbtf_sample_count(struct modbtf_sample_state *s)
{
	struct modbtf_sample_entry *e;
	int n = 0;

	mutex_lock(&s->lock);
	list_for_each_entry(e, &s->entries, node)
		n++;
	mutex_unlock(&s->lock);
	return n;
}
EXPORT_SYMBOL_GPL(modbtf_sample_count);

unsigned int modbtf_sample_skb_len(const struct sk_buff *skb)
{
	return skb ? skb->len : 0;
}
EXPORT_SYMBOL_GPL(modbtf_sample_skb_len);

static void modbtf_sample_work(struct work_struct *w)
{
	struct modbtf_sample_state *s = container_of(w, struct modbtf_sample_state, work);

	s->counters[0]++;
}

static int __init modbtf_sample_init(void)
{
	int i;

	mutex_init(&state.lock);
	INIT_LIST_HEAD(&state.entries);
	INIT_WORK(&state.work, modbtf_sample_work);
	for (i = 0; i < depth; i++) {
		struct modbtf_sample_entry *e = kzalloc(sizeof(*e), GFP_KERNEL);

		if (!e)
			return -ENOMEM;
		kref_init(&e->ref);
		e->cookie = i;
		list_add_tail(&e->node, &state.entries);
		state.last = e;
	}
	schedule_work(&state.work);
	pr_info("modbtf_sample: %d entries\n", modbtf_sample_count(&state));
	return 0;
}

static void __exit modbtf_sample_exit(void)
{
	struct modbtf_sample_entry *e, *tmp;

	cancel_work_sync(&state.work);
	list_for_each_entry_safe(e, tmp, &state.entries, node) {
		list_del(&e->node);
		kref_put(&e->ref, modbtf_sample_release);
	}
}

module_init(modbtf_sample_init);
module_exit(modbtf_sample_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("modbtf sample out-of-tree module");
