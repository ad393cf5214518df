/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* an agent kind (fl-agent.h) */
typedef struct _FlAgentClass FlAgentClass;

typedef struct {
	gchar *name;
	const FlAgentClass *klass; /* what kind= names; the kind validated the rest */
	gchar **command; /* argv template; "{goal}", "{session_id}", "{session_uuid}" fill whole
			    elements */
	gchar **env;     /* KEY=VALUE */
	/* http agents (DESIGN.md §5, fl-agent-http.c) */
	gchar *api; /* "anthropic" or "openai" */
	gchar *url;
	gchar *model;
	gchar *api_key_env;
	gchar *output;
	guint max_tokens;
	/* confinement (fl-sandbox.h) */
	gboolean network; /* FALSE: network=none */
	/* limits; FL_LIMIT_INHERIT takes [fleet]'s, 0 is none */
	gint64 memory;          /* bytes */
	gint64 pids;            /* tasks */
	gint64 cpu;             /* seconds of CPU time, all its processes together */
	gint64 timeout;         /* seconds */
	gchar *permission_mode; /* (nullable) claude: --permission-mode inside the sandbox */
} FlAgentConfig;

/* [cluster NAME]: a scheduler sessions can be placed on (`run --on NAME`) */
typedef struct {
	gchar *name;
	gchar *kind;        /* "slurm" */
	gchar *partition;   /* NULL: the cluster's default partition */
	gchar *shared_dir;  /* absolute; the same path on this machine and on the nodes */
	guint64 memory_mb;  /* 0: the partition's default */
	guint time_minutes; /* 0: the partition's default */
	guint cpus;         /* 0: one */
} FlClusterConfig;
#define FL_LIMIT_INHERIT (-1)

typedef struct {
	gchar *path; /* file it came from, NULL for defaults */
	/* [fleet] */
	guint max_parallel;
	guint max_unreviewed; /* 0 = no limit */
	guint cancel_grace;   /* seconds between SIGTERM and SIGKILL */
	guint verify_timeout; /* seconds */
	gchar *default_agent; /* for sessions run without --agent; "shell" by default */
	gchar *placement;     /* where sessions run unless `run --on` says: NULL = local */
	gdouble daily_budget; /* dollars a day; once spent, queued sessions wait; 0 = none */
	gboolean confinement; /* FALSE only when the user wrote confinement=off */
	guint64 memory;       /* per-session limits, 0 = none */
	guint64 pids;
	guint64 cpu;
	guint64 timeout;
	gchar **writable;  /* absolute paths every session may write */
	gchar **read_only; /* absolute paths every session may read */
	/* [checkin] */
	gchar *checkin_times;
	gchar *checkin_every;
	gchar *checkin_days;
	gchar *checkin_quiet_hours;
	gboolean now_blocked;
	gboolean now_failed;
	gchar **review_command; /* argv, NULL when not configured: fl-checkin.c finds a terminal */
	gchar *webhook;         /* nullable */
	gchar *webhook_format;  /* "json" or "ntfy" */
	/* [prices] model -> "IN;OUT" dollars per million tokens */
	GHashTable *prices;
	/* [repo PATH] verify= */
	GHashTable *repo_verify; /* path -> command */
	/* [agent NAME] */
	GHashTable *agents; /* name -> FlAgentConfig* */
	/* [cluster NAME] */
	GHashTable *clusters; /* name -> FlClusterConfig* */
} FlConfig;

/* the built-in defaults (no file) */
FlConfig *
fl_config_new_default(void);
/*
 * Loads @path over the defaults; a missing file is not an error. Unknown groups and keys and
 * bad values fail with a message naming the file, group and key.
 */
FlConfig *
fl_config_load(const gchar *path, GError **error);
/* $XDG_CONFIG_HOME/flotilla/flotilla.conf */
gchar *
fl_config_default_path(void);
void
fl_config_free(FlConfig *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlConfig, fl_config_free)

/* an agent by name: configured ones first, then the kinds' presets; NULL when unknown */
const FlAgentConfig *
fl_config_get_agent(const FlConfig *self, const gchar *name);
/* every variable an agent takes its API key from (api-key-env), each once, sorted */
gchar **
fl_config_get_api_key_envs(const FlConfig *self);
/* a [cluster NAME] by name, NULL when there is none */
const FlClusterConfig *
fl_config_get_cluster(const FlConfig *self, const gchar *name);
/* the placements that are not the local one, sorted by name */
GList *
fl_config_get_cluster_names(const FlConfig *self);
/* the verify command configured for the repository at @toplevel, or NULL */
const gchar *
fl_config_get_repo_verify(const FlConfig *self, const gchar *toplevel);
/*
 * The cost in US dollars of @input_tokens and @output_tokens with @model by [prices]. A model
 * matches its own entry, else the longest entry that is a prefix of it followed by '-' (so
 * that "claude-x" prices "claude-x-20250101"). -1 when no entry matches or the matching one
 * is not two non-negative numbers.
 */
gdouble
fl_config_get_cost(const FlConfig *self, const gchar *model, guint input_tokens,
		   guint output_tokens);
/* @model's [prices] in dollars per million input and output tokens; FALSE when none */
gboolean
fl_config_get_prices(const FlConfig *self, const gchar *model, gdouble *input, gdouble *output);

G_END_DECLS
