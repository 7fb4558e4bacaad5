/* main.c - the strata command-line tool: command table, help, dispatch. */
#include "clikit.h"
#include "commands.h"
#include "hugepages.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const command COMMANDS[] = {
	{ "init", cmd_init, "create a new, empty store",
	  "usage: strata init STORE [--group-cap BYTES] [--level N] [--chain-max N]\n"
	  "                   [--read-cost-max N] [--repack-after N]\n"
	  "                   [--chunk-above BYTES] [--chunk-avg BYTES] [--state-mem BYTES]\n"
	  "                   [--dedup-above BYTES] [--delta-above BYTES]\n"
	  "                   [--profile trace|versions|archive] [--codec CODEC[:LEVEL]]\n"
	  "                   [--codec-rule PATTERN=CODEC[:LEVEL]]...\n"
	  "\n"
	  "Create an empty store in directory STORE (created if missing; it must be\n"
	  "empty if it exists). The options are kept in the store.\n"
	  "\n"
	  "  --profile NAME       defaults for a kind of store (the options below\n"
	  "                       override them, in any order):\n"
	  "                         versions  zstd:3, 16 MiB groups, chain max 4, read\n"
	  "                                   cost 4, repack after 16 (the default)\n"
	  "                         trace     zstd:2, 4 MiB groups, chain max 1 (no\n"
	  "                                   deltas across units), read cost 64,\n"
	  "                                   never repack, never chunk, records of\n"
	  "                                   256 bytes and up deduplicated, no\n"
	  "                                   deltas against the group\n"
	  "                         archive   zstd:18, 64 MiB groups, read cost 8,\n"
	  "                                   chain max 32, never repack, records\n"
	  "                                   of 512 KiB and up cut into 8 MiB chunks\n"
	  "  --codec CODEC[:LEVEL]\n"
	  "                       codec of the groups of keys no rule names: none,\n"
	  "                       zstd (levels 1..22), lz4 (1..12; 3 and up: LZ4 HC;\n"
	  "                       default 1), zlib (gzip, 1..9, default 6) or xz\n"
	  "                       (0..9, default 6). Default: zstd\n"
	  "  --codec-rule PATTERN=CODEC[:LEVEL]\n"
	  "                       keys matching the glob PATTERN (fnmatch: * ? [...];\n"
	  "                       '*' matches '/' too) get CODEC. Repeat for more\n"
	  "                       rules; the first match wins. A group holds records\n"
	  "                       of one codec, so keys of different codecs put in\n"
	  "                       turn make small groups\n"
	  "  --group-cap BYTES    body size cap of a compression group (default\n"
	  "                       16777216; 4096..268435456). Records this large or\n"
	  "                       larger get a group of their own.\n"
	  "  --level N            level of the default codec (--codec's; without it,\n"
	  "                       zstd level 1..22 (default 3))\n"
	  "  --chain-max N        most groups one get may touch (1..32, default 4):\n"
	  "                       a new version may be stored as a delta against the\n"
	  "                       previous one in an older unit, up to this depth\n"
	  "  --read-cost-max N    most compressed bytes one get may read, as a\n"
	  "                       multiple of the record's size (1..1024, default 4;\n"
	  "                       records under 4 KiB count as 4 KiB)\n"
	  "  --repack-after N     repack the trailing small packs once N of them\n"
	  "                       pile up (0 = never, 2..1000, default 16)\n"
	  "  --chunk-above BYTES  records this large or larger are cut into\n"
	  "                       content-defined chunks: a chunk stored before is\n"
	  "                       not stored again, and a new one is coded against\n"
	  "                       a similar earlier chunk (0 = never; 65536..2^40;\n"
	  "                       default 4194304)\n"
	  "  --chunk-avg BYTES    average chunk size, a power of two 4096..16777216\n"
	  "                       (default 65536); chunks are a quarter to four\n"
	  "                       times that\n"
	  "  --state-mem BYTES    memory for the chunk indexes' cache (at least\n"
	  "                       16777216, default 1073741824)\n"
	  "  --dedup-above BYTES  records this large or larger whose content was\n"
	  "                       put before, a quarter of a group cap or more\n"
	  "                       earlier, are stored once and referred to (0 =\n"
	  "                       never; 64..2^30; default 0)\n"
	  "  --delta-above BYTES  records this large or larger are coded as\n"
	  "                       copy/insert deltas against their group where\n"
	  "                       that halves them; smaller ones only where a\n"
	  "                       delta against an earlier unit is the other\n"
	  "                       choice (0 = only there; 16..2^30; default 256)\n" },
	{ "put", cmd_put, "add one record to a key, as a unit of its own",
	  "usage: strata put STORE KEY [FILE|-] [--label LABEL]\n"
	  "\n"
	  "Store the contents of FILE (or standard input, when FILE is - or absent)\n"
	  "as the next record of KEY, and commit it as one unit. Prints KEY@N and the\n"
	  "unit number.\n"
	  "\n"
	  "  --label LABEL  label of the unit (shown by 'strata log')\n" },
	{ "get", cmd_get, "write a record to standard output or a file",
	  "usage: strata get STORE KEY[@N] [-o FILE] [--stats]\n"
	  "\n"
	  "Write record N of KEY (numbered from 1; the latest when @N is absent).\n"
	  "The key is everything before the last '@' that is followed only by\n"
	  "digits, so 'a@b' is key 'a@b' and 'v@2@3' is record 3 of key 'v@2'.\n"
	  "The content is checked against its checksum before it is written. A\n"
	  "large record stored in chunks (see --chunk-above of init) goes out\n"
	  "chunk by chunk, each checked first, so memory stays at a few chunks\n"
	  "however large it is; if it fails midway, FILE is removed, while\n"
	  "standard output has had a prefix of the record (the exit status says).\n"
	  "\n"
	  "  -o, --output FILE  write to FILE instead of standard output\n"
	  "  --stats            report on standard error what the read cost: bytes\n"
	  "                     read from packs, groups touched, bytes decompressed\n" },
	{ "cat", cmd_cat, "stream a run of a key's records in order, decoded ahead",
	  "usage: strata cat STORE KEY... [--from N] [--count M] [--prefetch D]\n"
	  "\n"
	  "Write records N, N+1, ... of KEY to standard output, one after the other\n"
	  "with nothing between them (for replay and for piping). Background\n"
	  "threads, one per core, read and decode up to D groups ahead, each\n"
	  "group once for all of KEY's records in it.\n"
	  "\n"
	  "Several keys go out one after the other, each from its record N, read\n"
	  "by the same threads: the next key's groups are decoded while the one\n"
	  "before is written. Every key is checked before anything is written.\n"
	  "\n"
	  "  --from N      first record of each key (default 1)\n"
	  "  --count M     at most M records of each key (default: to the last one)\n"
	  "  --prefetch D  groups decoded ahead, 1..256 (default 4; at most\n"
	  "                64 MiB of them wait at once)\n" },
	{ "load", cmd_load, "add many records and units from a bulk stream",
	  "usage: strata load STORE [FILE|-] [-v] [--stats] [--threads N] [--queue-mb M] [--durable-mb M] [--durable-sec S]\n"
	  "\n"
	  "Read a load stream from FILE (or standard input) and store it. Format:\n"
	  "\n"
	  "  put <length> <key>\\n<length raw bytes>\\n   a new record of <key>\n"
	  "  commit [<label>]\\n                        end of a unit\n"
	  "  # comment\\n                               ignored, between commands\n"
	  "\n"
	  "<key> is the rest of the line. Records after the last commit form a\n"
	  "final unit at a clean end of input. A malformed or truncated stream\n"
	  "stops with an error naming the byte offset and what was expected; the\n"
	  "unit in progress is discarded and every unit committed before it stays.\n"
	  "Progress is shown on a terminal.\n"
	  "\n"
	  "Records go through the write pipeline: the reading thread hands them\n"
	  "over, worker threads code and compress groups in parallel and one\n"
	  "writer thread appends them to the unit's pack in order. In a store of\n"
	  "chain max 1 that chunks nothing (the trace profile), a commit does not\n"
	  "wait for its unit (unless -v): reading goes on while the unit is\n"
	  "written and synced. The load returns, or reports bad input, only once\n"
	  "every unit committed before is durable.\n"
	  "\n"
	  "  -v, --verbose      print 'committed unit N' on standard output as each\n"
	  "                     unit of the stream becomes durable, and the\n"
	  "                     pipeline's figures at the end (as --stats)\n"
	  "  --stats            at the end, print the pipeline's figures to\n"
	  "                     standard error: the most in flight, puts that\n"
	  "                     waited, and the CPU seconds of the reading thread,\n"
	  "                     the workers and the writer (where the time went);\n"
	  "                     with --threads 0, the one thread's CPU seconds\n"
	  "  --threads N        worker threads (default: one per core); 0 codes and\n"
	  "                     writes on the reading thread, without a pipeline\n"
	  "  --queue-mb M       most MiB of records in flight, with ~100 bytes of\n"
	  "                     bookkeeping each (default: a group's worth per\n"
	  "                     thread and two more, within 64..256); reading\n"
	  "                     waits while the pipeline is this full\n"
	  "  --durable-mb M     also commit a unit labelled 'auto' each time M MiB\n"
	  "                     were read since the last commit, without waiting for\n"
	  "                     it (for long traces: a crash loses at most what came\n"
	  "                     after the last durable unit)\n"
	  "  --durable-sec S    the same each S seconds\n" },
	{ "ls", cmd_ls, "list keys with their record counts",
	  "usage: strata ls STORE\n"
	  "\n"
	  "List every key, in byte order, with its number of records. Control\n"
	  "characters in keys are shown escaped (\\n, \\t, \\xNN).\n" },
	{ "log", cmd_log, "list units, or the records of one key",
	  "usage: strata log STORE [KEY]\n"
	  "\n"
	  "Without KEY: one line per unit (number, time, records, raw bytes, pack\n"
	  "bytes, label). With KEY: one line per record (number, unit, size,\n"
	  "stored size, checksum).\n" },
	{ "stats", cmd_stats, "show totals and the compression ratio",
	  "usage: strata stats STORE [--json]\n"
	  "\n"
	  "Show records, keys, units, groups, raw bytes, stored bytes, the ratio\n"
	  "raw/stored, and the distribution (median, p99, max) of read cost over all\n"
	  "records: compressed bytes a get reads per byte it returns (at most; a get\n"
	  "of a large group may stop a little short of its bound). A record stored\n"
	  "in chunks counts as its chunks; a repeat stored as a reference to a\n"
	  "pooled record counts the reference only (the pooled record counts\n"
	  "as a record of its own).\n"
	  "\n"
	  "  --json  print one JSON object instead of text\n" },
	{ "verify", cmd_verify, "check every checksum of every record",
	  "usage: strata verify STORE [--since N]\n"
	  "\n"
	  "Decode every record and check every checksum: pack headers, footers and\n"
	  "trailers, compressed groups, record contents, and the catalog against\n"
	  "the packs. Each problem is reported on standard error with its pack,\n"
	  "key and record. Exit status 1 if any problem is found.\n"
	  "\n"
	  "  --since N  only the packs holding units N and later (a record of those\n"
	  "             units whose chunks or base lie in older packs is still\n"
	  "             decoded in full, so each of those units is proven restorable)\n" },
	{ "repack", cmd_repack, "regroup all packs into one, for tight storage and one-group reads",
	  "usage: strata repack STORE [--oldest-first]\n"
	  "\n"
	  "Rewrite every record into one new pack: each key's records together\n"
	  "(newest first unless --oldest-first), keys of alike sizes together and\n"
	  "by name within a size (extension first), so alike files share groups;\n"
	  "each record coded against its own group only, so any get touches one\n"
	  "group. The new pack is durable and catalogued before the old packs are\n"
	  "deleted; a crash at any moment leaves every record readable; then the\n"
	  "catalog is compacted. Commits also repack on their own once enough\n"
	  "small packs pile up (see 'strata init --repack-after'). Stores of the\n"
	  "archive profile gain no room from it (their units are coded against\n"
	  "each other already), and it replaces packs shipped with 'strata packs'.\n"
	  "\n"
	  "  --oldest-first  order each key's records oldest first\n" },
	{ "rebuild", cmd_rebuild, "recreate the catalog from the packs",
	  "usage: strata rebuild STORE [--profile NAME] [init's options]\n"
	  "\n"
	  "Delete the catalog and recreate it from the pack files alone, with the\n"
	  "chunk indexes. Damaged packs are reported, set aside as *.damaged and\n"
	  "left out. Needs the writer lock. STORE may be a directory holding only\n"
	  "packs/ (copies of another store's packs, see 'strata packs'): it gets a\n"
	  "strata.conf of the options given, or else of the default (versions)\n"
	  "profile. They only steer later writes, but give the ones the store was\n"
	  "made with: an archive rebuilt with the defaults would chunk less and\n"
	  "repack its packs. A store that has a strata.conf keeps it; options are\n"
	  "then refused.\n"
	  "\n"
	  "  --profile NAME    the store's profile (trace, versions, archive); the\n"
	  "                    other options of 'strata init' (see its --help) are\n"
	  "                    taken too and override it\n" },
	{ "import", cmd_import, "store a snapshot of a directory tree as one unit",
	  "usage: strata import STORE DIR [--label LABEL] [--reread]\n"
	  "\n"
	  "Store the tree under DIR as one unit: each regular file is a record of\n"
	  "the key equal to its path under DIR, stored anew only when it changed\n"
	  "since the previous import (large files are cut into chunks, and chunks\n"
	  "stored before are not stored again); a manifest of the tree (paths,\n"
	  "permission bits, modification times, symbolic links) goes with it. A\n"
	  "file whose size and modification time match the previous import's is\n"
	  "taken as unchanged without being read. Sockets, fifos and devices are\n"
	  "skipped and counted, as are files deleted while the import runs. On\n"
	  "failure nothing is committed.\n"
	  "\n"
	  "  --label LABEL  label of the unit (shown by 'strata log')\n"
	  "  --reread       read every file, whatever its size and time\n" },
	{ "export", cmd_export, "restore a directory tree as of a unit",
	  "usage: strata export STORE DIR [--unit N]\n"
	  "\n"
	  "Restore the tree imported in unit N (default: the latest import) into\n"
	  "DIR, which must not exist or be empty: directories, files, symbolic\n"
	  "links, permission bits and modification times. Reads only the records\n"
	  "that tree needs; each is checked against its checksums.\n"
	  "\n"
	  "  --unit N  the unit to restore (see 'strata log')\n" },
	{ "packs", cmd_packs, "list the pack files to copy offsite",
	  "usage: strata packs STORE [--since N] [-v]\n"
	  "\n"
	  "Print the path of every live pack holding units N and later (default:\n"
	  "all), oldest first: after copying the packs of units before N, these\n"
	  "are what a copy lacks. Packs are immutable; a directory holding copies\n"
	  "of all of them becomes the whole store again with 'strata rebuild'\n"
	  "(give it the store's --profile and options: packs do not hold them).\n"
	  "\n"
	  "  --since N      only packs holding units N and later\n"
	  "  -v, --verbose  also print each pack's first and last unit and size,\n"
	  "                 tab-separated\n" },
	{ "fork", cmd_fork, "start a new store from another's history, sharing its packs",
	  "usage: strata fork STORE NEW\n"
	  "\n"
	  "Make a new store NEW (which must not exist or be empty) that starts\n"
	  "with the history and chunk indexes of STORE: its packs are hard links\n"
	  "to STORE's (copies where the file system refuses), its catalog a copy.\n"
	  "Units added to NEW compress against that history; STORE is left as it\n"
	  "was (its lock is taken meanwhile). If a fork stops midway (a crash, a\n"
	  "full disk), NEW is no store; running the fork again clears what the\n"
	  "stopped one left there, and nothing else.\n" },
};

#define NCOMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

const command *command_find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(COMMANDS[i].name, name))
			return &COMMANDS[i];
	return NULL;
}

int command_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
		   int (*on_opt)(int opt, const char *arg, void *ctx), void *ctx, int *done)
{
	const command *c = command_find(argv[0]);
	struct option all[16];
	size_t n = 0;
	for (; longopts && longopts[n].name && n < 14; n++)
		all[n] = longopts[n];
	all[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	all[n] = (struct option){ 0, 0, 0, 0 };
	char so[64];
	snprintf(so, sizeof so, "%sh", shortopts);
	*done = 0;
	optind = 1;
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, so, all, NULL)) != -1) {
		if (opt == 'h') {
			fputs(c->help, stdout);
			*done = 1;
			return 0;
		}
		if (opt == '?' || opt == ':')
			return usage_error(c->name, "unknown option or missing value: %s", argv[optind - 1]);
		int rc = on_opt(opt, optarg, ctx);
		if (rc)
			return rc;
	}
	return 0;
}

static void main_help(FILE *f)
{
	fputs("usage: strata COMMAND STORE [ARGS...]\n"
	      "\n"
	      "strata stores streams of related records (versions of files, trace\n"
	      "streams, backups) compressed against each other, durably, and gives any\n"
	      "record back reading only a bounded amount of data.\n"
	      "\n"
	      "Commands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-8s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
	fputs("\n'strata COMMAND --help' explains a command. Exit status: 0 success,\n"
	      "1 failure (an error, or damage found), 2 bad usage.\n"
	      "\n"
	      "Environment: STRATA_HUGEPAGES=0 keeps the commands that move much data\n"
	      "from running themselves again with glibc's malloc.hugetlb tunable (done\n"
	      "where the kernel gives huge pages only on request; see README.md) and\n"
	      "from growing malloc's heaps 16 MiB at a time.\n", f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		main_help(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		if (argc > 2 && command_find(argv[2])) {
			fputs(command_find(argv[2])->help, stdout);
			return 0;
		}
		main_help(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("strata %s\n", STRATA_VERSION_STRING);
		return 0;
	}
	const command *c = command_find(argv[1]);
	if (!c) {
		fprintf(stderr, "strata: unknown command '%s'\nTry 'strata --help'.\n", argv[1]);
		return EXIT_USAGE;
	}
	/* The commands that move many MB through fresh memory. */
	static const char *const big[] = { "load", "import", "export", "repack", "cat", "verify", "rebuild", "put" };
	for (size_t i = 0; i < sizeof big / sizeof *big; i++)
		if (!strcmp(argv[1], big[i]))
			hugepages_setup(argv);
	return c->run(argc - 1, argv + 1);
}
