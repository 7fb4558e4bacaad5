/* commands.h - the strata subcommands; each takes argv from its own name on
 * and returns the process exit status. */
#ifndef STRATA_COMMANDS_H
#define STRATA_COMMANDS_H

typedef struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;  /* one line for `strata --help` */
	const char *help;     /* full text for `strata NAME --help` */
} command;

int cmd_init(int argc, char **argv);
int cmd_put(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_rebuild(int argc, char **argv);
int cmd_repack(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_packs(int argc, char **argv);
int cmd_fork(int argc, char **argv);

/* Find a command by name; NULL if unknown. */
const command *command_find(const char *name);

/* Parse the options of a command with getopt_long. Handles --help (prints
 * the command's help, returns 0 with *done set). Returns EXIT_USAGE on a bad
 * option, after saying so. */
struct option;
int command_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
		   int (*on_opt)(int opt, const char *arg, void *ctx), void *ctx, int *done);

/* The options that make a store: init's, and rebuild's for a directory of
 * packs. Parse them with command_getopt(..., store_longopts(), store_opt,
 * so, ...), then store_opts_resolve() gives the options (pointing into so,
 * valid until store_opts_free). `cmd` names the command in errors. */
typedef struct store_opts store_opts;
struct strata_options;
const struct option *store_longopts(void);
store_opts *store_opts_new(const char *cmd);
int store_opt(int opt, const char *arg, void *ctx);
int store_opts_given(const store_opts *so);
int store_opts_resolve(store_opts *so, struct strata_options *o);
void store_opts_free(store_opts *so);

#endif
