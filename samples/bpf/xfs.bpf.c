// SPDX-License-Identifier: GPL-2.0
/*
 * Types that exist only in the xfs module's BTF (xfs_inode, xfs_mount, xfs_sb, enum
 * xfs_dinode_fmt), reached from and leading into vmlinux types (inode, super_block). Against
 * vmlinux alone these find no candidate; against vmlinux + xfs.ko BTF they resolve.
 */
#include "core.h"

char LICENSE[] SEC("license") = "GPL";

__u64 out[64];

struct super_block {
	unsigned int s_dev;
	unsigned long s_blocksize;
} __core;

struct inode {
	unsigned long i_ino;
	struct super_block *i_sb;
} __core;

struct xfs_sb {
	__u32 sb_blocksize;
	char sb_fname[12];
} __core;

struct xfs_mount {
	struct xfs_sb m_sb;
	struct super_block *m_super;
} __core;

struct xfs_inode {
	struct xfs_mount *i_mount;
	unsigned long long i_ino;
	__u32 i_cowextsize; /* in an anonymous union */
	struct inode i_vnode;
} __core;

enum xfs_dinode_fmt {
	XFS_DINODE_FMT_DEV,
	XFS_DINODE_FMT_LOCAL,
	XFS_DINODE_FMT_EXTENTS,
	XFS_DINODE_FMT_BTREE,
	XFS_DINODE_FMT_UUID,
};

SEC("kprobe/xfs_inode_item_format")
int xfs_inode_fields(struct xfs_inode *ip)
{
	struct xfs_mount *mp = 0;
	struct super_block *sb = 0;
	__u32 bs = 0;
	char c = 0;

	core_read(&mp, ip->i_mount);
	core_read(&bs, mp->m_sb.sb_blocksize);
	core_read(&c, mp->m_sb.sb_fname[2]);
	core_read(&sb, mp->m_super);
	out[0] = bs + c + (unsigned long)sb;
	out[1] = ip->i_ino;
	out[2] = field_info(ip->i_cowextsize, FIELD_BYTE_OFFSET);
	out[3] = field_info(ip->i_vnode.i_ino, FIELD_BYTE_OFFSET);
	out[4] = field_info(ip->i_vnode.i_sb, FIELD_BYTE_OFFSET);
	out[5] = field_info(sb->s_dev, FIELD_BYTE_OFFSET);
	return 0;
}

SEC("kprobe/xfs_inode_item_format")
int xfs_types(void *ctx)
{
	out[10] = type_info(struct xfs_inode, TYPE_EXISTS);
	out[11] = type_info(struct xfs_inode, TYPE_SIZE);
	out[12] = type_id(struct xfs_mount, TYPE_ID_TARGET);
	out[13] = enum_info(enum xfs_dinode_fmt, XFS_DINODE_FMT_BTREE, ENUMVAL_VALUE);
	out[14] = enum_info(enum xfs_dinode_fmt, XFS_DINODE_FMT_UUID, ENUMVAL_EXISTS);
	out[15] = type_info(enum xfs_dinode_fmt, TYPE_MATCHES);
	return 0;
}
