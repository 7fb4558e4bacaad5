/*
 * hugepages.h - run strata with transparent huge pages for malloc's memory.
 *
 * In a VM a page fault costs several microseconds, and strata's big
 * commands touch hundreds of MB of fresh memory (queued records, zstd's
 * match tables, contents decoded along delta chains). Where the kernel gives
 * huge pages only to memory that asks for them (transparent_hugepage
 * "[madvise]"), glibc's malloc asks when the tunable glibc.malloc.hugetlb=1
 * is set; tunables are read only as a program starts, so strata executes
 * itself again, once, with it added to GLIBC_TUNABLES. Measured on this
 * project's machines (2026-11-29, medians of 3 in turns): the 20 imports
 * of bench/archive 27.7 -> 18.7 s (units 2..20: 20.8 -> 12.4 s), the same
 * bytes stored. See docs/threading.md, "Page faults".
 */
#ifndef STRATA_HUGEPAGES_H
#define STRATA_HUGEPAGES_H

/* glibc's malloc grows a heap (the main one by brk, a thread's by
 * mprotect) by what a request lacks plus a pad, 128 KiB by default. Each
 * step is a system call, and under glibc.malloc.hugetlb=1 the last,
 * partial 2 MiB of a heap gets 4 KiB pages. A pad of 16 MiB: bench/trace's
 * load 0.70 -> 0.54 s, page faults 18,800 -> 3,900; `strata cat` of its
 * three keys 0.33 -> 0.21 s (2026-11-29; docs/threading.md, "Page faults"). */
#define HUGEPAGES_PAD (16 << 20)

/* Unless STRATA_HUGEPAGES=0 (or not glibc): execute /proc/self/exe again
 * with argv and glibc.malloc.hugetlb=1 added to GLIBC_TUNABLES, unless
 * GLIBC_TUNABLES names glibc.malloc.hugetlb already (the user's choice, or
 * this process is the second run) or transparent huge pages are not in
 * madvise mode; then, in the process that goes on, set malloc's heap pad
 * to HUGEPAGES_PAD (mallopt M_TOP_PAD: memory is touched only as it is
 * used). Call it before anything is read or opened. */
void hugepages_setup(char **argv);

#endif
