/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fl-config.h"
#include "fl-dbus-names.h"
#include "fl-dbus.h"
#include "fl-error.h"
#include "fl-groups.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-relay.h" /* the channel inside sessions */
#include "fl-session-data.h"
#include "fl-text.h"
#include "fl-util.h" /* FL_GOAL_MAX: the daemon's limit, checked here before a round trip */

#define FL_CLI_CALL_TIMEOUT_MS 30000
/* approve, reject and revert merge or delete branches in git before they answer */
#define FL_CLI_GIT_TIMEOUT_MS   300000
#define FL_CLI_START_TIMEOUT_MS 10000
/* a call that lost its daemon asks the next one this often */
#define FL_CLI_RETRIES          3
#define FL_CLI_PAYLOAD_MAX      (1024 * 1024)
#define FL_CLI_FROM_MAX         (16 * 1024 * 1024)
#define FL_CLI_COLUMNS_DEFAULT  80
#define FL_CLI_TITLE_MIN        12
#define FL_CLI_TITLE_MAX        48
#define FL_CLI_COMPLETE_TITLE   60
#define FL_CLI_COMPLETE_TIMEOUT 2000
#define FL_CLI_PROGRESS_MS      100
#define FL_CLI_ACTIVITY_MAX     60

#define FL_CLI_BOLD   "\033[1m"
#define FL_CLI_GREEN  "\033[32m"
#define FL_CLI_RED    "\033[31m"
#define FL_CLI_YELLOW "\033[33m"
#define FL_CLI_RESET  "\033[0m"

/*
 * Exit statuses, one rule for every command: 2 for what was typed (bad usage, an unknown id,
 * a goal over the limit), 1 for a refusal because of the state things are in (already
 * decided, still running, a conflict, verify failed) and for operations that failed, 3 when
 * flotillad cannot be reached or started. FL_ERROR codes (ours, or the daemon's coming back
 * over D-Bus) and G_OPTION_ERROR decide 1 or 2.
 */
enum {
	FL_CLI_EXIT_OK = 0,
	FL_CLI_EXIT_FAILED = 1,
	FL_CLI_EXIT_USAGE = 2,
	FL_CLI_EXIT_UNREACHABLE = 3,
};

#define FL_CLI_ERROR (fl_cli_error_quark())
typedef enum {
	FL_CLI_ERROR_UNREACHABLE,
} FlCliError;

/* declared static first: the definition G_DEFINE_QUARK writes then stays in this file */
static GQuark
fl_cli_error_quark(void);
/* the quark name is stringified as written: no spaces around its dashes */
/* clang-format off */
G_DEFINE_QUARK(fl-cli-error-quark, fl_cli_error)
/* clang-format on */

typedef struct {
	/* options of the one subcommand this process runs; string options are raw argv bytes
	 * (G_OPTION_ARG_FILENAME) so that we, not the locale, decide what is valid UTF-8 */
	gboolean help;
	gboolean json;
	gboolean all;
	gint limit; /* -1 when not given */
	gboolean follow;
	gboolean now;
	gchar *token; /* (nullable) the request token of this invocation's Run */
	gboolean preview;
	gboolean onto_current; /* retry --onto-current */
	gchar **after;         /* run --after ID (given at most once) */
	gchar **after_done;    /* run --after-done ID */
	guint after_id;        /* the session either names, resolved */
	gboolean scratch;
	gchar **repos; /* run --repo, once per repository of a group */
	gchar *base;
	gchar **agents; /* run --agent, several for a race */
	gchar *group;   /* run --group, pause/resume --group */
	gchar *race;    /* run --race N */
	gchar *verify;
	gchar *on; /* run --on: a [cluster NAME] or local */
	gchar *memory;
	gchar *name;
	gchar *from;
	gchar *note;
	gchar *timeout;    /* wait --timeout, run --timeout */
	gchar *priority;   /* run --priority */
	gchar *budget;     /* run --budget, dollars as typed */
	gchar *older_than; /* clean --older-than */
	gchar *state;      /* clean --state */
	gboolean dry_run;  /* clean --dry-run */
	gdouble budget_usd;

	GDBusConnection *connection; /* (owned) (nullable) */
	FlDbusFlotilla1 *proxy;      /* (owned) (nullable) */
	gboolean tty;                /* stdout is a terminal: tables for people, else plain lines */
	gboolean color;
	gboolean progress;    /* stderr is a terminal: long waits show a live status line there */
	gboolean interrupted; /* Ctrl-C ended a wait that showed progress */
	gint status;          /* exit status of a command that ran to its end */
	gboolean timed_out;   /* wait --timeout ran out */

	/* the flotillad we spawned, while it is our child */
	guint daemon_child_id;
	gboolean daemon_exited;
	gint daemon_wait_status;
} FlCli;

typedef gboolean (*FlCliFunc)(FlCli *cli, gchar **args, GError **error);
typedef void (*FlCliOptionsFunc)(FlCli *cli, GOptionContext *context);

typedef struct {
	const gchar *name;
	const gchar *params;  /* N_() */
	const gchar *summary; /* N_() */
	FlCliOptionsFunc add_options;
	FlCliFunc func;
	gboolean strict_posix; /* free text follows: options only before it */
	gboolean errors_exit_zero;
	gboolean hidden; /* for shell completion: not listed, never suggested */
} FlCliCommand;

static FlCli *
fl_cli_new(void)
{
	FlCli *cli = g_new0(FlCli, 1);
	const gchar *no_color = g_getenv("NO_COLOR");
	const gchar *term = g_getenv("TERM");

	cli->limit = -1;
	cli->tty = isatty(STDOUT_FILENO);
	/* no-color.org: any non-empty NO_COLOR turns colour off */
	cli->color = cli->tty && (no_color == NULL || no_color[0] == '\0') &&
		     g_strcmp0(term, "dumb") != 0;
	/* a status line redrawn in place needs a terminal that understands \r and erase */
	cli->progress = isatty(STDERR_FILENO) && term != NULL && term[0] != '\0' &&
			g_strcmp0(term, "dumb") != 0;
	return cli;
}

static void
fl_cli_free(FlCli *cli)
{
	g_strfreev(cli->repos);
	g_free(cli->token);
	g_free(cli->base);
	g_strfreev(cli->agents);
	g_free(cli->group);
	g_free(cli->race);
	g_free(cli->verify);
	g_free(cli->on);
	g_free(cli->memory);
	g_free(cli->name);
	g_free(cli->from);
	g_free(cli->note);
	g_free(cli->timeout);
	g_strfreev(cli->after);
	g_strfreev(cli->after_done);
	g_free(cli->priority);
	g_free(cli->budget);
	g_free(cli->older_than);
	g_free(cli->state);
	g_clear_handle_id(&cli->daemon_child_id, g_source_remove);
	g_clear_object(&cli->proxy);
	g_clear_object(&cli->connection);
	g_free(cli);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlCli, fl_cli_free)

/* ---- text: everything we print went through fl_text_clean(): valid UTF-8 that cannot drive
 * the terminal ---- */

static gsize
fl_cli_unichar_width(gunichar c)
{
	if (g_unichar_iszerowidth(c))
		return 0;
	return g_unichar_iswide(c) ? 2 : 1;
}

/* terminal columns of clean text */
static gsize
fl_cli_width(const gchar *text)
{
	gsize width = 0;
	for (const gchar *p = text; *p != '\0'; p = g_utf8_next_char(p))
		width += fl_cli_unichar_width(g_utf8_get_char(p));
	return width;
}

static gchar *
fl_cli_ellipsize(const gchar *text, gsize max_cols)
{
	GString *out;
	gsize cols = 0;

	if (fl_cli_width(text) <= max_cols)
		return g_strdup(text);
	if (max_cols == 0)
		return g_strdup("");
	out = g_string_new(NULL);
	for (const gchar *p = text; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		gsize w = fl_cli_unichar_width(c);
		if (cols + w > max_cols - 1)
			break;
		g_string_append_unichar(out, c);
		cols += w;
	}
	g_string_append(out, "…");
	return g_string_free(out, FALSE);
}

static void
fl_cli_append_padded(GString *out, const gchar *text, gsize cols)
{
	g_string_append(out, text);
	for (gsize w = fl_cli_width(text); w < cols; w++)
		g_string_append_c(out, ' ');
}

static gboolean
fl_cli_is_blank(const gchar *text)
{
	for (const gchar *p = text; *p != '\0'; p++) {
		if (!g_ascii_isspace(*p))
			return FALSE;
	}
	return TRUE;
}

static gchar *
fl_cli_style(FlCli *cli, const gchar *code, const gchar *text)
{
	if (!cli->color)
		return g_strdup(text);
	return g_strconcat(code, text, FL_CLI_RESET, NULL);
}

/* width of the terminal on @fd: $COLUMNS first, as ls(1) does */
static gsize
fl_cli_terminal_columns(gint fd)
{
	const gchar *env = g_getenv("COLUMNS");
	struct winsize ws = {0};

	if (env != NULL) {
		guint64 value = g_ascii_strtoull(env, NULL, 10);
		if (value >= 20 && value <= 1000)
			return (gsize)value;
	}
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return FL_CLI_COLUMNS_DEFAULT;
}

/*
 * The daemon's state and review values are stable words for scripts (JSON, piped ls); people
 * at a terminal read them in their language. Values a newer daemon invents stay as they are.
 */
static const gchar *const fl_cli_state_names[] = {
	NC_("session state", "queued"),      NC_("session state", "running"),
	NC_("session state", "blocked"),     NC_("session state", "done"),
	NC_("session state", "failed"),      NC_("session state", "cancelled"),
	NC_("session state", "interrupted"), NULL};

static const gchar *const fl_cli_review_names[] = {
	NC_("review state", "none"),     NC_("review state", "pending"),
	NC_("review state", "approved"), NC_("review state", "rejected"),
	NC_("review state", "reverted"), NULL};

static const gchar *
fl_cli_state_label(const gchar *state)
{
	if (state == NULL)
		return "?";
	if (!g_strv_contains(fl_cli_state_names, state))
		return state;
	return g_dpgettext2(GETTEXT_PACKAGE, "session state", state);
}

static const gchar *
fl_cli_review_label(const gchar *review)
{
	if (review == NULL)
		return "?";
	if (!g_strv_contains(fl_cli_review_names, review))
		return review;
	return g_dpgettext2(GETTEXT_PACKAGE, "review state", review);
}

static gchar *
fl_cli_format_duration(gint64 seconds)
{
	if (seconds < 0)
		seconds = 0;
	if (seconds < 60)
		/* TRANSLATORS: a duration in seconds, e.g. "45s" */
		return g_strdup_printf(_("%ds"), (gint)seconds);
	if (seconds < 3600)
		/* TRANSLATORS: a duration in minutes, e.g. "12m" */
		return g_strdup_printf(_("%dm"), (gint)(seconds / 60));
	if (seconds < 86400)
		/* TRANSLATORS: hours and minutes, e.g. "3h05m" */
		return g_strdup_printf(_("%dh%02dm"), (gint)(seconds / 3600),
				       (gint)(seconds % 3600 / 60));
	/* TRANSLATORS: days and hours, e.g. "2d4h" */
	return g_strdup_printf(_("%dd%dh"), (gint)(seconds / 86400),
			       (gint)(seconds % 86400 / 3600));
}

static GDateTime *
fl_cli_parse_time(const gchar *iso)
{
	g_autoptr(GTimeZone) local = g_time_zone_new_local();
	if (iso == NULL)
		return NULL;
	return g_date_time_new_from_iso8601(iso, local);
}

/* seconds from @iso until now; FALSE when @iso is absent or unreadable */
static gboolean
fl_cli_seconds_since(const gchar *iso, gint64 *seconds)
{
	g_autoptr(GDateTime) then = fl_cli_parse_time(iso);
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();

	if (then == NULL)
		return FALSE;
	*seconds = g_date_time_difference(now, then) / G_TIME_SPAN_SECOND;
	return TRUE;
}

static gchar *
fl_cli_format_age(const gchar *iso)
{
	gint64 seconds;
	g_autofree gchar *duration = NULL;

	if (!fl_cli_seconds_since(iso, &seconds))
		return NULL;
	duration = fl_cli_format_duration(seconds);
	/* TRANSLATORS: how long ago something happened, e.g. "12m ago" */
	return g_strdup_printf(_("%s ago"), duration);
}

static gchar *
fl_cli_format_cost(gdouble cost)
{
	gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

	/* the decimal point stays a point: scripts and tests read this */
	/* to the cent, as money is read */
	g_ascii_formatd(buf, sizeof buf, "%.2f", cost);
	return g_strdup_printf("$%s", buf);
}

/* ---- errors and exit statuses ---- */

static gboolean
fl_cli_error_is_lost_daemon(const GError *error)
{
	return g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY) ||
	       g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
	       g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
	       g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_DISCONNECTED) ||
	       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CLOSED) ||
	       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
}

static gint
fl_cli_exit_status(const GError *error)
{
	if (g_error_matches(error, FL_CLI_ERROR, FL_CLI_ERROR_UNREACHABLE) ||
	    fl_cli_error_is_lost_daemon(error))
		return FL_CLI_EXIT_UNREACHABLE;
	if (error->domain == G_OPTION_ERROR)
		return FL_CLI_EXIT_USAGE;
	if (error->domain == FL_ERROR) {
		switch (error->code) {
		case FL_ERROR_INVALID_ARGUMENT:
		case FL_ERROR_NOT_FOUND:
		case FL_ERROR_LIMIT_EXCEEDED:
			return FL_CLI_EXIT_USAGE;
		default:
			break;
		}
	}
	return FL_CLI_EXIT_FAILED;
}

/* prints the one error line and says which exit status it means */
static gint
fl_cli_report_error(GError *error)
{
	gint status = fl_cli_exit_status(error);
	g_autofree gchar *message = NULL;
	g_autofree gchar *text = NULL;

	g_dbus_error_strip_remote_error(error);
	/* an error made in this process by a shared module carries its message: in our language */
	text = fl_error_render(error);
	message = fl_text_clean(text, -1, FL_TEXT_COLLAPSE_SPACE);
	/* a call that lost the daemon half-way reads like a failed connection */
	if (status == FL_CLI_EXIT_UNREACHABLE && error->domain != FL_CLI_ERROR)
		fprintf(stderr, "flotilla: %s %s\n", _("cannot reach flotillad:"), message);
	else
		fprintf(stderr, "flotilla: %s\n", message);
	return status;
}

static gboolean
fl_cli_usage_error(GError **error, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

static gboolean
fl_cli_usage_error(GError **error, const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *message = NULL;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error_literal(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT, message);
	return FALSE;
}

static gboolean
fl_cli_unreachable(GError **error, GError *cause)
{
	g_autofree gchar *message = NULL;
	g_autofree gchar *text = NULL;

	g_dbus_error_strip_remote_error(cause);
	text = fl_error_render(cause);
	message = fl_text_clean(text, -1, FL_TEXT_COLLAPSE_SPACE);
	g_set_error(error, FL_CLI_ERROR, FL_CLI_ERROR_UNREACHABLE, _("cannot reach flotillad: %s"),
		    message);
	return FALSE;
}

/* ---- arguments ---- */

/* "7" and "#7": positive decimal integers that fit the bus's u */
static gboolean
fl_cli_parse_id(const gchar *text, guint *id, GError **error)
{
	const gchar *p = text[0] == '#' ? text + 1 : text;
	guint64 value = 0;

	for (const gchar *q = p; *q != '\0'; q++) {
		if (!g_ascii_isdigit(*q) || value > G_MAXUINT32) {
			value = 0;
			break;
		}
		value = value * 10 + (guint64)(*q - '0');
	}
	if (*p == '\0' || value == 0 || value > G_MAXUINT32) {
		g_autofree gchar *shown = fl_text_clean(text, -1, FL_TEXT_COLLAPSE_SPACE);
		return fl_cli_usage_error(error, _("'%s' is not a session id"), shown);
	}
	*id = (guint)value;
	return TRUE;
}

static FlDbusFlotilla1 *
fl_cli_proxy(FlCli *cli, GError **error);

/*
 * "7", "#7", or the name given with `run --name` when exactly one session has it. Text that
 * starts like a number is an id only: "1x" is a mistyped id, not a name to look up.
 */
static gboolean
fl_cli_resolve_id(FlCli *cli, const gchar *text, guint *id, GError **error)
{
	g_autoptr(GVariant) sessions = NULL;
	g_autoptr(GVariant) options = NULL;
	g_autofree gchar *shown = NULL;
	FlDbusFlotilla1 *proxy;
	GVariantBuilder builder;
	GVariantIter iter;
	GVariant *session;
	guint matches = 0;

	if (text[0] == '\0' || text[0] == '#' || text[0] == '-' || g_ascii_isdigit(text[0]) ||
	    !g_utf8_validate(text, -1, NULL))
		return fl_cli_parse_id(text, id, error);
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&builder, "{sv}", "all", g_variant_new_boolean(TRUE));
	options = g_variant_ref_sink(g_variant_builder_end(&builder));
	if (!fl_dbus_flotilla1_call_list_sessions_sync(proxy, options, &sessions, NULL, error))
		return FALSE;
	g_variant_iter_init(&iter, sessions);
	while ((session = g_variant_iter_next_value(&iter)) != NULL) {
		const gchar *name = NULL;
		if (g_variant_lookup(session, "name", "&s", &name) && g_strcmp0(name, text) == 0) {
			guint32 found = 0;
			if (g_variant_lookup(session, "id", "u", &found))
				*id = found;
			matches++;
		}
		g_variant_unref(session);
	}
	shown = fl_text_clean(text, -1, FL_TEXT_COLLAPSE_SPACE);
	if (matches == 1)
		return TRUE;
	if (matches == 0) {
		g_set_error(error, FL_ERROR, FL_ERROR_NOT_FOUND,
			    _("no session %s: neither an id nor the name of one"), shown);
		return FALSE;
	}
	g_set_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT,
		    _("%u sessions are named '%s': give the id"), matches, shown);
	return FALSE;
}

/* "@NAME" in place of an id: a group, never a session (no session name starts with '@') */
static gboolean
fl_cli_group_arg(const gchar *text, const gchar **name, GError **error)
{
	if (text[0] != '@')
		return FALSE;
	*name = text + 1;
	if (!fl_groups_name_is_valid(*name)) {
		g_autofree gchar *shown = fl_text_clean(text, -1, FL_TEXT_COLLAPSE_SPACE);
		fl_cli_usage_error(error, _("'%s' is not a group (@NAME)"), shown);
	}
	return TRUE;
}

/* the one positional argument of "CMD ID" */
static gboolean
fl_cli_args_id(FlCli *cli, gchar **args, guint *id, GError **error)
{
	if (args[1] == NULL)
		return fl_cli_usage_error(error, _("'%s' needs a session id"), args[0]);
	if (args[2] != NULL) {
		g_autofree gchar *shown = fl_text_clean(args[2], -1, FL_TEXT_COLLAPSE_SPACE);
		return fl_cli_usage_error(error, _("unexpected argument '%s'"), shown);
	}
	return fl_cli_resolve_id(cli, args[1], id, error);
}

static gboolean
fl_cli_args_none(gchar **args, GError **error)
{
	g_autofree gchar *shown = NULL;

	if (args[1] == NULL)
		return TRUE;
	shown = fl_text_clean(args[1], -1, FL_TEXT_COLLAPSE_SPACE);
	return fl_cli_usage_error(error, _("unexpected argument '%s'"), shown);
}

static gboolean
fl_cli_check_utf8_option(const gchar *option, const gchar *value, GError **error)
{
	if (value == NULL || g_utf8_validate(value, -1, NULL))
		return TRUE;
	return fl_cli_usage_error(error, _("--%s is not valid UTF-8"), option);
}

/* free text for the daemon (a goal, a reply, a message): @what names it in errors */
static gboolean
fl_cli_check_text(const gchar *what, const gchar *text, gsize len, GError **error)
{
	if (!g_utf8_validate_len(text, len, NULL))
		return fl_cli_usage_error(error, _("%s is not valid UTF-8"), what);
	if (fl_cli_is_blank(text))
		return fl_cli_usage_error(error, _("%s is empty"), what);
	if (len > FL_GOAL_MAX)
		return fl_cli_usage_error(error, _("%s is %lu bytes; the limit is %d"), what,
					  (gulong)len, FL_GOAL_MAX);
	return TRUE;
}

/* the positional arguments from @args[1] on, joined by single spaces */
static gchar *
fl_cli_args_text(gchar **args)
{
	return g_strjoinv(" ", args + 1);
}

static GBytes *
fl_cli_read_limited(GInputStream *stream, gsize max, const gchar *what, GError **error)
{
	g_autoptr(GByteArray) buf = g_byte_array_new();
	guint8 chunk[65536];

	for (;;) {
		gssize n = g_input_stream_read(stream, chunk, sizeof chunk, NULL, error);
		if (n < 0)
			return NULL;
		if (n == 0)
			break;
		if (buf->len + (gsize)n > max) {
			g_set_error(error, FL_ERROR, FL_ERROR_LIMIT_EXCEEDED,
				    _("%s is larger than %lu bytes"), what, (gulong)max);
			return NULL;
		}
		g_byte_array_append(buf, chunk, (guint)n);
	}
	return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}

static GInputStream *
fl_cli_open_input(const gchar *path, GError **error)
{
	g_autoptr(GFile) file = NULL;

	if (g_strcmp0(path, "-") == 0)
		return g_unix_input_stream_new(STDIN_FILENO, FALSE);
	file = g_file_new_for_path(path);
	return G_INPUT_STREAM(g_file_read(file, NULL, error));
}

/* ---- output ---- */

static gboolean
fl_cli_write(const void *data, gsize len, GError **error)
{
	if (len > 0 && fwrite(data, 1, len, stdout) != len) {
		gint errsv = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv),
			    _("cannot write to standard output: %s"), g_strerror(errsv));
		return FALSE;
	}
	return TRUE;
}

/* copies raw bytes to stdout until the end of @stream */
static gboolean
fl_cli_drain(GInputStream *stream, GError **error)
{
	guint8 chunk[65536];

	for (;;) {
		gssize n = g_input_stream_read(stream, chunk, sizeof chunk, NULL, error);
		if (n < 0)
			return FALSE;
		if (n == 0)
			break;
		if (!fl_cli_write(chunk, (gsize)n, error))
			return FALSE;
	}
	fflush(stdout);
	return TRUE;
}

static gboolean
fl_cli_copy_file(const gchar *path, GError **error)
{
	g_autoptr(GFile) file = g_file_new_for_path(path);
	g_autoptr(GFileInputStream) stream = g_file_read(file, NULL, error);

	if (stream == NULL)
		return FALSE;
	return fl_cli_drain(G_INPUT_STREAM(stream), error);
}

static void
fl_cli_print_json(JsonNode *root, gboolean pretty)
{
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autofree gchar *data = NULL;

	json_generator_set_pretty(generator, pretty);
	json_generator_set_root(generator, root);
	data = json_generator_to_data(generator, NULL);
	fputs(data, stdout);
	fputc('\n', stdout);
}

/* ---- session dictionaries (a{sv}) ---- */

/* a present, non-empty string */
static const gchar *
fl_cli_dict_str(GVariant *dict, const gchar *key)
{
	const gchar *value = NULL;

	if (!g_variant_lookup(dict, key, "&s", &value) || value[0] == '\0')
		return NULL;
	return value;
}

static gboolean
fl_cli_variant_int(GVariant *value, gint64 *out)
{
	switch (g_variant_classify(value)) {
	case G_VARIANT_CLASS_BYTE:
		*out = g_variant_get_byte(value);
		return TRUE;
	case G_VARIANT_CLASS_INT16:
		*out = g_variant_get_int16(value);
		return TRUE;
	case G_VARIANT_CLASS_UINT16:
		*out = g_variant_get_uint16(value);
		return TRUE;
	case G_VARIANT_CLASS_INT32:
		*out = g_variant_get_int32(value);
		return TRUE;
	case G_VARIANT_CLASS_UINT32:
		*out = g_variant_get_uint32(value);
		return TRUE;
	case G_VARIANT_CLASS_INT64:
		*out = g_variant_get_int64(value);
		return TRUE;
	case G_VARIANT_CLASS_UINT64:
		*out = (gint64)MIN(g_variant_get_uint64(value), (guint64)G_MAXINT64);
		return TRUE;
	default:
		return FALSE;
	}
}

static gboolean
fl_cli_dict_int(GVariant *dict, const gchar *key, gint64 *out)
{
	g_autoptr(GVariant) value = g_variant_lookup_value(dict, key, NULL);
	return value != NULL && fl_cli_variant_int(value, out);
}

static gboolean
fl_cli_dict_bool(GVariant *dict, const gchar *key)
{
	gboolean value = FALSE;

	return g_variant_lookup(dict, key, "b", &value) && value;
}

static gboolean
fl_cli_dict_double(GVariant *dict, const gchar *key, gdouble *out)
{
	return g_variant_lookup(dict, key, "d", out) && isfinite(*out);
}

static guint
fl_cli_dict_id(GVariant *dict)
{
	gint64 id = 0;
	fl_cli_dict_int(dict, "id", &id);
	return (guint)id;
}

/* queued, running and blocked sessions may still change; the others are final */
static gboolean
fl_cli_state_is_final(const gchar *state)
{
	return state != NULL && g_strcmp0(state, "queued") != 0 &&
	       g_strcmp0(state, "running") != 0 && g_strcmp0(state, "blocked") != 0;
}

/* name when given, else the goal, on one line */
static gchar *
fl_cli_session_title(GVariant *session)
{
	const gchar *title = fl_cli_dict_str(session, "name");
	const gchar *group = fl_cli_dict_str(session, "group");
	g_autofree gchar *clean = NULL;

	if (title == NULL)
		title = fl_cli_dict_str(session, "goal");

	if (title == NULL)
		return g_strdup(_("(no goal)"));
	clean = fl_text_clean(title, -1, FL_TEXT_COLLAPSE_SPACE);
	/* a group is reviewed as one: its members say so wherever they are listed */
	if (group != NULL) {
		g_autofree gchar *group_clean = fl_text_clean(group, -1, FL_TEXT_COLLAPSE_SPACE);
		return g_strdup_printf("@%s: %s", group_clean, clean);
	}
	return g_steal_pointer(&clean);
}

static const gchar *const fl_cli_session_keys[] = {"id",
						   "name",
						   "goal",
						   "agent",
						   "repo",
						   "base",
						   "base_commit",
						   "branch",
						   "worktree",
						   "state",
						   "review",
						   "created",
						   "started",
						   "finished",
						   "exit_code",
						   "signal",
						   "verify",
						   "verify_command",
						   "verify_commit",
						   "verify_base",
						   "refreshed_from",
						   "after",
						   "after_done",
						   "diffstat",
						   "links_outside",
						   "cost_usd",
						   "turns",
						   "waiting_for",
						   "final_message",
						   "reason",
						   "merge_commit",
						   "held",
						   "landing",
						   "overlaps",
						   "merges",
						   "conflicts",
						   "stale",
						   "checked_against",
						   "conflict_since",
						   "verify_stale",
						   "placement",
						   "placement_status",
						   "confinement",
						   "dismissed",
						   "group",
						   "priority",
						   "subdir",
						   "budget_usd",
						   "cleaned",
						   NULL};

/* shown by `show` after the JSON keys: where the session's files are */
static const gchar *const fl_cli_session_path_keys[] = {"log_path", "patch_path", "verify_log_path",
							NULL};

static const gchar *const fl_cli_status_keys[] = {
	"version",   "running",      "max_parallel",   "queued",
	"blocked",   "unreviewed",   "max_unreviewed", "held",
	"paused",    "daily_budget", "spent_today",    "next_checkin",
	"state_dir", "clusters",     "confinement",    "confinement_error",
	NULL};

/* one [cluster NAME] in `status --json` */
static const gchar *const fl_cli_cluster_keys[] = {"name",   "kind",    "reachable",
						   "status", "running", NULL};

static void
fl_cli_json_add_dict(JsonBuilder *builder, GVariant *dict, const gchar *const *keys);

static void
fl_cli_json_add_value(JsonBuilder *builder, GVariant *value)
{
	gint64 number;

	if (value == NULL) {
		json_builder_add_null_value(builder);
		return;
	}
	if (fl_cli_variant_int(value, &number)) {
		json_builder_add_int_value(builder, number);
		return;
	}
	switch (g_variant_classify(value)) {
	case G_VARIANT_CLASS_ARRAY: {
		GVariantIter iter;
		GVariant *child;

		if (g_variant_is_of_type(value, G_VARIANT_TYPE("aa{sv}"))) {
			/* the clusters of `status` */
			json_builder_begin_array(builder);
			for (gsize i = 0; i < g_variant_n_children(value); i++) {
				g_autoptr(GVariant) cluster = g_variant_get_child_value(value, i);
				fl_cli_json_add_dict(builder, cluster, fl_cli_cluster_keys);
			}
			json_builder_end_array(builder);
			break;
		}
		json_builder_begin_array(builder);
		g_variant_iter_init(&iter, value);
		while ((child = g_variant_iter_next_value(&iter)) != NULL) {
			fl_cli_json_add_value(builder, child);
			g_variant_unref(child);
		}
		json_builder_end_array(builder);
		break;
	}
	case G_VARIANT_CLASS_BOOLEAN:
		json_builder_add_boolean_value(builder, g_variant_get_boolean(value));
		break;
	case G_VARIANT_CLASS_DOUBLE:
		if (isfinite(g_variant_get_double(value)))
			json_builder_add_double_value(builder, g_variant_get_double(value));
		else
			json_builder_add_null_value(builder);
		break;
	case G_VARIANT_CLASS_STRING:
	case G_VARIANT_CLASS_OBJECT_PATH:
	case G_VARIANT_CLASS_SIGNATURE: {
		/* `jq -r` prints these to a terminal: the same rules as our own output */
		g_autofree gchar *clean =
			fl_text_clean(g_variant_get_string(value, NULL), -1, FL_TEXT_MULTILINE);
		json_builder_add_string_value(builder, clean);
		break;
	}
	default:
		json_builder_add_null_value(builder);
		break;
	}
}

static void
fl_cli_json_add_dict(JsonBuilder *builder, GVariant *dict, const gchar *const *keys)
{
	guint n = g_strv_length((gchar **)keys);
	g_autofree GVariant **values = g_new0(GVariant *, n);
	GVariantIter iter;
	GVariant *entry;

	/* one pass over the dictionary: a lookup per key reads it from the start each time,
	 * which was most of `ls --all --json` */
	g_variant_iter_init(&iter, dict);
	while ((entry = g_variant_iter_next_value(&iter)) != NULL) {
		g_autoptr(GVariant) owned = entry;
		g_autoptr(GVariant) key = g_variant_get_child_value(entry, 0);
		const gchar *name = g_variant_get_string(key, NULL);
		for (guint i = 0; i < n; i++) {
			if (values[i] == NULL && strcmp(keys[i], name) == 0) {
				g_autoptr(GVariant) boxed = g_variant_get_child_value(entry, 1);
				values[i] = g_variant_get_variant(boxed);
				break;
			}
		}
	}
	json_builder_begin_object(builder);
	for (guint i = 0; i < n; i++) {
		json_builder_set_member_name(builder, keys[i]);
		fl_cli_json_add_value(builder, values[i]);
		g_clear_pointer(&values[i], g_variant_unref);
	}
	json_builder_end_object(builder);
}

/*
 * The JSON form of a session: `flotilla show ID --json` prints one object, `flotilla ls
 * --json` an array of them (newest first). The format is stable: every key below is always
 * present, in this order, and null when the daemon has no value for it. Values are never
 * reformatted: strings are as the daemon sent them (valid UTF-8), times are ISO 8601 with the
 * local offset.
 *
 *   id              integer  the session id
 *   name            string   short name given with `run --name`
 *   goal            string   what the session works toward
 *   agent           string   shell, claude, codex, aider, http or an agent from the config
 *   repo            string   absolute path of the repository
 *   base            string   branch the draft starts from and merges into
 *   base_commit     string   commit of base when the session started
 *   branch          string   the draft branch, flotilla/<id>
 *   worktree        string   the session's git worktree
 *   state           string   queued, running, blocked, done, failed, cancelled, interrupted
 *   review          string   none, pending, approved, rejected
 *   created         string   when it was queued
 *   started         string   when the agent started
 *   finished        string   when the agent ended
 *   exit_code       integer  the agent's exit status
 *   signal          integer  the signal that ended the agent
 *   verify          string   pass, fail, timeout
 *   verify_command  string   the command that checked the draft
 *   verify_commit   string   the draft commit it checked (run without the API keys)
 *   verify_base     string   the base commit the draft stood on when verify checked it
 *   refreshed_from  string   the base commit before the last `flotilla refresh`
 *   after           integer  `run --after`/`--after-done`: the session it waits for
 *   after_done      boolean  it waits for that session's end, not its approval
 *   diffstat        string   the draft's size, as git summarises it
 *   links_outside   string   symbolic links the draft adds that lead out of the repository
 *                            (absolute, "../" beyond its top, or into .git), one
 *                            "PATH -> TARGET" a line
 *   cost_usd        number   what the agent reported spending, in US dollars
 *   turns           integer  agent turns
 *   waiting_for     string   what a blocked session asks
 *   final_message   string   the agent's last message
 *   reason          string   why it failed, was cancelled or interrupted
 *   merge_commit    string   the commit that merged an approved draft
 *   held            string   why a queued session does not start yet
 *   landing         string   for a pending draft: how it stands beside the other drafts of
 *                            its base branch ("conflicts with main since #12 landed: a.c")
 *   overlaps        array    ids of other pending drafts changing one of its files
 *   merges          boolean  whether it merges cleanly onto the base branch's tip now
 *   conflicts       array    the files that conflict with that tip
 *   stale           boolean  the base branch moved since the draft was made
 *   checked_against string   the tip of the base branch the last check used
 *   conflict_since  integer  the session whose landing made it stop merging
 *   verify_stale    boolean  its verify ran against another base than the tip now
 *                            (`flotilla refresh` runs it again on the tip)
 *   placement_status string  where a running session's process is, when there is more to
 *                            say than "running" (e.g. waiting for its runner to start)
 *
 * `flotilla status --json` prints one object the same way with the keys version, running,
 * max_parallel, queued, blocked, unreviewed, max_unreviewed, held, paused (boolean),
 * next_checkin, state_dir, confinement ("bwrap", "off" or "unavailable"), confinement_error.
 */
static void
fl_cli_json_add_session(JsonBuilder *builder, GVariant *session)
{
	fl_cli_json_add_dict(builder, session, fl_cli_session_keys);
}

/* ---- the daemon ---- */

static void
fl_cli_daemon_child_setup(gpointer user_data)
{
	/* its own session: a hangup or Ctrl-C in the terminal that ran us must not reach it */
	setsid();
}

static void
fl_cli_daemon_exited_cb(GPid pid, gint wait_status, gpointer user_data)
{
	FlCli *cli = user_data;

	cli->daemon_child_id = 0;
	cli->daemon_exited = TRUE;
	cli->daemon_wait_status = wait_status;
	g_spawn_close_pid(pid);
}

static void
fl_cli_name_appeared_cb(GDBusConnection *connection, const gchar *name, const gchar *owner,
			gpointer user_data)
{
	gboolean *appeared = user_data;
	*appeared = TRUE;
}

static gboolean
fl_cli_name_has_owner(FlCli *cli, gboolean *has_owner, GError **error)
{
	g_autoptr(GVariant) reply = NULL;

	reply = g_dbus_connection_call_sync(
		cli->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
		"org.freedesktop.DBus", "NameHasOwner", g_variant_new("(s)", FL_BUS_NAME),
		G_VARIANT_TYPE("(b)"), G_DBUS_CALL_FLAGS_NONE, FL_CLI_CALL_TIMEOUT_MS, NULL, error);
	if (reply == NULL)
		return FALSE;
	g_variant_get(reply, "(b)", has_owner);
	return TRUE;
}

static void
fl_cli_flag_cb(gpointer user_data)
{
	gboolean *flag = user_data;
	*flag = TRUE;
}

/* spawns flotillad detached and waits for it to own its name */
static gboolean
fl_cli_spawn_daemon(FlCli *cli, GError **error)
{
	g_autofree gchar *path = fl_find_helper("FLOTILLAD", "flotillad", LIBEXECDIR);
	g_autofree gchar *state_dir = g_build_filename(g_get_user_state_dir(), "flotilla", NULL);
	g_autofree gchar *log_path = g_build_filename(state_dir, "flotillad.log", NULL);
	const gchar *argv[] = {path, NULL};
	gboolean appeared = FALSE;
	gboolean timed_out = FALSE;
	gboolean spawned;
	guint watch_id;
	guint timeout_id;
	gint log_fd;
	GPid pid = 0;

	if (g_mkdir_with_parents(state_dir, 0700) != 0) {
		gint errsv = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv),
			    _("cannot create %s: %s"), state_dir, g_strerror(errsv));
		return FALSE;
	}
	log_fd = g_open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0) {
		gint errsv = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv),
			    _("cannot open %s: %s"), log_path, g_strerror(errsv));
		return FALSE;
	}
	/* not reaped by GLib's double fork: a child watch tells us at once when it dies on
	 * start-up, instead of after the whole deadline */
	spawned = g_spawn_async_with_pipes_and_fds("/", argv, NULL,
						   G_SPAWN_DO_NOT_REAP_CHILD |
							   G_SPAWN_STDIN_FROM_DEV_NULL |
							   G_SPAWN_STDOUT_TO_DEV_NULL,
						   fl_cli_daemon_child_setup, NULL, -1, -1, log_fd,
						   NULL, NULL, 0, &pid, NULL, NULL, NULL, error);
	g_close(log_fd, NULL);
	if (!spawned)
		return FALSE;

	cli->daemon_child_id = g_child_watch_add(pid, fl_cli_daemon_exited_cb, cli);
	watch_id = g_bus_watch_name_on_connection(cli->connection, FL_BUS_NAME,
						  G_BUS_NAME_WATCHER_FLAGS_NONE,
						  fl_cli_name_appeared_cb, NULL, &appeared, NULL);
	timeout_id = g_timeout_add_once(FL_CLI_START_TIMEOUT_MS, fl_cli_flag_cb, &timed_out);
	while (!appeared && !cli->daemon_exited && !timed_out)
		g_main_context_iteration(NULL, TRUE);
	g_bus_unwatch_name(watch_id);
	if (!timed_out)
		g_source_remove(timeout_id);

	if (appeared)
		return TRUE;
	if (cli->daemon_exited) {
		gint st = cli->daemon_wait_status;
		gboolean has_owner = FALSE;

		/* a flotillad started elsewhere at the same moment won the name; ours gave up */
		if (fl_cli_name_has_owner(cli, &has_owner, NULL) && has_owner)
			return TRUE;
		if (WIFSIGNALED(st)) {
			g_set_error(error, FL_ERROR, FL_ERROR_FAILED,
				    _("%s was killed by signal %d (see %s)"), path, WTERMSIG(st),
				    log_path);
		} else {
			g_set_error(error, FL_ERROR, FL_ERROR_FAILED,
				    _("%s exited with status %d (see %s)"), path,
				    WIFEXITED(st) ? WEXITSTATUS(st) : st, log_path);
		}
		return FALSE;
	}
	g_set_error(error, FL_ERROR, FL_ERROR_FAILED,
		    _("%s did not appear on the session bus within %d s (see %s)"), path,
		    FL_CLI_START_TIMEOUT_MS / 1000, log_path);
	return FALSE;
}

/*
 * The reason flotillad gave for not starting, when it wrote one since @since (wall clock,
 * microseconds): its stderr went to a log file or the journal, where nobody looks.
 */
static gchar *
fl_cli_daemon_start_error(gint64 since)
{
	g_autofree gchar *path = fl_start_error_path();
	g_autofree gchar *contents = NULL;
	g_autofree gchar *reason = NULL;
	GStatBuf st;

	/* a whole second of slack: file systems with coarse timestamps */
	if (g_stat(path, &st) != 0 || (gint64)st.st_mtime < since / G_USEC_PER_SEC - 1)
		return NULL;
	if (!g_file_get_contents(path, &contents, NULL, NULL) || fl_cli_is_blank(contents))
		return NULL;
	/* flotillad wrote it as a message: in our language, whatever the daemon's was */
	reason = fl_msg_render_stored(g_strchomp(contents));
	return fl_text_clean(reason, -1, FL_TEXT_COLLAPSE_SPACE);
}

static gboolean
fl_cli_start_daemon_once(FlCli *cli, GError **error)
{
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) error_local = NULL;

	/* D-Bus activation: installed, or a test bus with a service dir */
	reply = g_dbus_connection_call_sync(
		cli->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
		"org.freedesktop.DBus", "StartServiceByName",
		g_variant_new("(su)", FL_BUS_NAME, 0u), G_VARIANT_TYPE("(u)"),
		G_DBUS_CALL_FLAGS_NONE, FL_CLI_START_TIMEOUT_MS, NULL, &error_local);
	if (reply != NULL)
		return TRUE;
	if (!g_error_matches(error_local, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN)) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	return fl_cli_spawn_daemon(cli, error);
}

/* running already, D-Bus activatable, or spawned by us: flotillad owns its name afterwards */
static gboolean
fl_cli_start_daemon(FlCli *cli, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *reason = NULL;
	gboolean has_owner = FALSE;
	gint64 since = g_get_real_time();

	if (!fl_cli_name_has_owner(cli, &has_owner, error))
		return FALSE;
	if (has_owner)
		return TRUE;
	if (fl_cli_start_daemon_once(cli, &error_local))
		return TRUE;
	reason = fl_cli_daemon_start_error(since);
	if (reason == NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	/* TRANSLATORS: %s is flotillad's own one-line reason, e.g. a config file mistake */
	g_set_error(error, FL_CLI_ERROR, FL_CLI_ERROR_UNREACHABLE, _("flotillad cannot start: %s"),
		    reason);
	return FALSE;
}

static gboolean
fl_cli_connect(FlCli *cli, GError **error)
{
	g_autoptr(GError) error_local = NULL;

	if (cli->connection != NULL)
		return TRUE;
	cli->connection = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error_local);
	if (cli->connection == NULL) {
		/* GIO's text ("Cannot autolaunch D-Bus without X11 $DISPLAY") names no remedy */
		g_debug("session bus: %s", error_local->message);
		g_set_error_literal(
			error, FL_CLI_ERROR, FL_CLI_ERROR_UNREACHABLE,
			_("there is no D-Bus session bus to reach flotillad on; log in to a "
			  "desktop "
			  "or a systemd user session (package dbus-user-session), or start one "
			  "with 'dbus-run-session -- $SHELL'"));
		return FALSE;
	}
	/* a lost bus becomes exit status 3 instead of GDBus raising SIGTERM */
	g_dbus_connection_set_exit_on_close(cli->connection, FALSE);
	return TRUE;
}

/*
 * Tells flotillad our message language, so that its errors and notes come back in it. No
 * reply is awaited: a connection's messages reach the daemon in order, so it knows before
 * our next call, and no call pays a round trip for it. Sent again whenever the proxy is
 * made again, as a daemon started in between knows nothing of us.
 */
static void
fl_cli_send_locale(FlCli *cli, gboolean start)
{
	g_autoptr(GDBusMessage) message = g_dbus_message_new_method_call(
		FL_BUS_NAME, FL_OBJECT_PATH, FL_BUS_NAME, "SetLocale");
	g_autoptr(GError) error = NULL;
	const gchar *language = g_getenv("LANGUAGE");

	g_dbus_message_set_body(message, g_variant_new("(ss)", setlocale(LC_MESSAGES, NULL),
						       language != NULL ? language : ""));
	g_dbus_message_set_flags(message, G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED |
						  (start ? 0 : G_DBUS_MESSAGE_FLAGS_NO_AUTO_START));
	/* only a lost connection fails here, and the call that follows reports that */
	if (!g_dbus_connection_send_message(cli->connection, message,
					    G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, &error))
		g_debug("SetLocale: %s", error->message);
}

/* a proxy for flotillad, started first when @start; without @start NULL and no error when
 * it is not running */
static FlDbusFlotilla1 *
fl_cli_proxy_full(FlCli *cli, gboolean start, GError **error)
{
	g_autoptr(GError) error_local = NULL;

	if (cli->proxy != NULL)
		return cli->proxy;
	if (!fl_cli_connect(cli, error))
		return NULL;
	if (start) {
		if (!fl_cli_start_daemon(cli, &error_local)) {
			if (error_local->domain == FL_CLI_ERROR)
				g_propagate_error(error, g_steal_pointer(&error_local));
			else
				fl_cli_unreachable(error, error_local);
			return NULL;
		}
	} else {
		gboolean has_owner = FALSE;
		if (!fl_cli_name_has_owner(cli, &has_owner, &error_local)) {
			fl_cli_unreachable(error, error_local);
			return NULL;
		}
		if (!has_owner)
			return NULL;
	}
	/* without @start, a daemon that quits in between must not be activated by our call */
	cli->proxy = fl_dbus_flotilla1_proxy_new_sync(
		cli->connection,
		G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
			(start ? 0 : G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START),
		FL_BUS_NAME, FL_OBJECT_PATH, NULL, &error_local);
	if (cli->proxy == NULL) {
		fl_cli_unreachable(error, error_local);
		return NULL;
	}
	g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(cli->proxy), FL_CLI_CALL_TIMEOUT_MS);
	fl_cli_send_locale(cli, start);
	return cli->proxy;
}

/* inside a session flotilla never starts a daemon: one started there would inherit the
 * session's environment and confinement and die with it */
static gboolean
fl_cli_inside_session(void)
{
	const gchar *session = g_getenv("FLOTILLA_SESSION");

	return session != NULL && session[0] != '\0';
}

static FlDbusFlotilla1 *
fl_cli_proxy(FlCli *cli, GError **error)
{
	FlDbusFlotilla1 *proxy;
	g_autoptr(GError) error_local = NULL;

	if (!fl_cli_inside_session())
		return fl_cli_proxy_full(cli, TRUE, error);
	proxy = fl_cli_proxy_full(cli, FALSE, &error_local);
	if (proxy == NULL && error_local == NULL)
		g_set_error_literal(&error_local, FL_ERROR, FL_ERROR_FAILED,
				    _("flotillad is not running, and flotilla does not start it "
				      "from inside a session"));
	if (proxy == NULL)
		fl_cli_unreachable(error, error_local);
	return proxy;
}

/*
 * A call that lost its daemon half-way (killed, replaced, restarted) lost only the answer:
 * what it asked for may have happened. Once a daemon owns the name again (started as any
 * call starts it, within the start-up deadline) the caller asks again with the same request
 * token and gets the first answer, so it never reports "unreachable" for something done
 * nor does it twice. FALSE, with @error kept, when this is not such a loss or the retries
 * are used up.
 */
static gboolean
fl_cli_retry_lost(FlCli *cli, GError **error, guint *attempts)
{
	if (*error == NULL || !fl_cli_error_is_lost_daemon(*error) || ++*attempts > FL_CLI_RETRIES)
		return FALSE;
	g_debug("lost flotillad (%s); asking the next one", (*error)->message);
	g_clear_error(error);
	g_clear_object(&cli->proxy);
	return fl_cli_proxy(cli, error) != NULL;
}

static void
fl_cli_set_timeout(FlCli *cli, gint timeout_ms)
{
	g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(cli->proxy), timeout_ms);
}

static GVariant *
fl_cli_get_session(FlCli *cli, guint id, GError **error)
{
	FlDbusFlotilla1 *proxy = fl_cli_proxy(cli, error);
	GVariant *session = NULL;

	if (proxy == NULL)
		return NULL;
	if (!fl_dbus_flotilla1_call_get_session_sync(proxy, id, &session, NULL, error))
		return NULL;
	return session;
}

/* ---- run ---- */

static void
fl_cli_options_run(FlCli *cli, GOptionContext *context)
{
	const GOptionEntry entries[] = {
		{"repo", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &cli->repos,
		 N_("Repository to work in (default: the one around the current directory); "
		    "several: one session per repository, as a group"),
		 N_("DIR")},
		{"base", 0, 0, G_OPTION_ARG_FILENAME, &cli->base,
		 N_("Branch to start from and merge into"), N_("BRANCH")},
		{"scratch", 0, 0, G_OPTION_ARG_NONE, &cli->scratch,
		 N_("Run in an empty directory, not in a worktree of a repository"), NULL},
		{"agent", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &cli->agents,
		 N_("Agent to run (default: [fleet] default-agent, else shell); several: a race "
		    "between them"),
		 N_("NAME")},
		{"group", 0, 0, G_OPTION_ARG_FILENAME, &cli->group,
		 N_("Add the session to group NAME, reviewed as one item (@NAME)"), N_("NAME")},
		{"race", 0, 0, G_OPTION_ARG_FILENAME, &cli->race,
		 N_("Run the goal in N sessions; the first done and verified wins, the others "
		    "are cancelled"),
		 N_("N")},
		{"verify", 0, 0, G_OPTION_ARG_FILENAME, &cli->verify,
		 N_("Command that checks the draft"), N_("CMD")},
		{"on", 0, 0, G_OPTION_ARG_FILENAME, &cli->on,
		 N_("Run on this cluster ([cluster NAME] in the config) or 'local'"), N_("NAME")},
		{"memory", 0, 0, G_OPTION_ARG_FILENAME, &cli->memory,
		 N_("Memory limit of the session, e.g. 4G"), N_("SIZE")},
		{"timeout", 0, 0, G_OPTION_ARG_FILENAME, &cli->timeout,
		 N_("Time limit of the session, e.g. 2h"), N_("DURATION")},
		{"name", 0, 0, G_OPTION_ARG_FILENAME, &cli->name, N_("Short name for the session"),
		 N_("NAME")},
		{"priority", 0, 0, G_OPTION_ARG_FILENAME, &cli->priority,
		 N_("Place in the queue: high, normal (default) or low"), N_("LEVEL")},
		{"budget", 0, 0, G_OPTION_ARG_FILENAME, &cli->budget,
		 N_("Dollars the session may spend, all its runs together (claude and http "
		    "agents)"),
		 N_("USD")},
		{"from", 0, 0, G_OPTION_ARG_FILENAME, &cli->from,
		 N_("Queue one session per non-empty line of FILE ('-': standard input)"),
		 N_("FILE")},
		{"after", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cli->after,
		 N_("Start once session ID is approved, on a base that has its merge"), N_("ID")},
		{"after-done", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cli->after_done,
		 N_("Start once session ID is done, on its draft"), N_("ID")},
		{"json", 0, 0, G_OPTION_ARG_NONE, &cli->json, N_("Print the id as JSON"), NULL},
		{NULL}};
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
}

/* a goal from --from FILE: one per non-empty line */
static gboolean
fl_cli_read_goals(const gchar *path, GPtrArray *goals, GError **error)
{
	g_autoptr(GInputStream) stream = NULL;
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *shown = g_strcmp0(path, "-") == 0 ? g_strdup(_("standard input"))
							    : g_filename_display_name(path);
	const gchar *data;
	gsize size;
	guint line = 0;

	/* a file named on the command line that cannot be read is bad usage */
	stream = fl_cli_open_input(path, &error_local);
	if (stream == NULL) {
		g_autofree gchar *text = fl_error_render(error_local);

		return fl_cli_usage_error(error, _("cannot read %s: %s"), shown, text);
	}
	bytes = fl_cli_read_limited(stream, FL_CLI_FROM_MAX, shown, error);
	if (bytes == NULL)
		return FALSE;
	data = g_bytes_get_data(bytes, &size);
	for (gsize start = 0; start < size;) {
		const gchar *nl = memchr(data + start, '\n', size - start);
		gsize end = nl != NULL ? (gsize)(nl - data) : size;
		gsize len = end - start;
		g_autofree gchar *goal = NULL;
		g_autofree gchar *what = NULL;

		line++;
		if (len > 0 && data[start + len - 1] == '\r')
			len--;
		/* a NUL inside the line stays visible to fl_cli_check_text() as invalid UTF-8 */
		goal = g_strndup(data + start, len);
		start = end + 1;
		if (strlen(goal) == len && fl_cli_is_blank(goal))
			continue;
		/* TRANSLATORS: names a goal in an error, e.g. "goals.txt:3: goal is empty" */
		what = g_strdup_printf(_("%s:%u: goal"), shown, line);
		if (!fl_cli_check_text(what, goal, len, error))
			return FALSE;
		g_ptr_array_add(goals, g_steal_pointer(&goal));
	}
	if (goals->len == 0)
		return fl_cli_usage_error(error, _("%s has no goals"), shown);
	return TRUE;
}

/* the spec a{sv} of one session; @cwd and @repo are NULL when not valid UTF-8 / not given,
 * @token is the request's (NULL after the first spec of a batch) */
static GVariant *
fl_cli_run_spec(FlCli *cli, const gchar *goal, const gchar *cwd, const gchar *repo,
		const gchar *agent, const gchar *token)
{
	GVariantBuilder builder;

	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&builder, "{sv}", "goal", g_variant_new_string(goal));
	if (cli->name != NULL)
		g_variant_builder_add(&builder, "{sv}", "name", g_variant_new_string(cli->name));
	if (agent != NULL)
		g_variant_builder_add(&builder, "{sv}", "agent", g_variant_new_string(agent));
	if (repo != NULL)
		g_variant_builder_add(&builder, "{sv}", "repo", g_variant_new_string(repo));
	if (cli->base != NULL)
		g_variant_builder_add(&builder, "{sv}", "base", g_variant_new_string(cli->base));
	if (cli->verify != NULL)
		g_variant_builder_add(&builder, "{sv}", "verify",
				      g_variant_new_string(cli->verify));
	if (cwd != NULL)
		g_variant_builder_add(&builder, "{sv}", "cwd", g_variant_new_string(cwd));
	if (cli->scratch)
		g_variant_builder_add(&builder, "{sv}", "scratch", g_variant_new_boolean(TRUE));
	if (token != NULL)
		g_variant_builder_add(&builder, "{sv}", "token", g_variant_new_string(token));
	if (cli->on != NULL)
		g_variant_builder_add(&builder, "{sv}", "placement", g_variant_new_string(cli->on));
	if (cli->memory != NULL)
		g_variant_builder_add(&builder, "{sv}", "memory",
				      g_variant_new_string(cli->memory));
	if (cli->timeout != NULL)
		g_variant_builder_add(&builder, "{sv}", "timeout",
				      g_variant_new_string(cli->timeout));
	if (cli->after_id != 0)
		g_variant_builder_add(&builder, "{sv}", cli->after != NULL ? "after" : "after-done",
				      g_variant_new_uint32(cli->after_id));
	if (cli->priority != NULL)
		g_variant_builder_add(&builder, "{sv}", "priority",
				      g_variant_new_string(cli->priority));
	if (cli->budget != NULL)
		g_variant_builder_add(&builder, "{sv}", "budget",
				      g_variant_new_double(cli->budget_usd));
	return g_variant_builder_end(&builder);
}

/*
 * --after ID or --after-done ID, once: a session waits for one other (a chain of them gives
 * an order); ID may be a unique --name, as everywhere
 */
static gboolean
fl_cli_resolve_after(FlCli *cli, GError **error)
{
	gchar **given = cli->after != NULL ? cli->after : cli->after_done;

	if (cli->after != NULL && cli->after_done != NULL)
		return fl_cli_usage_error(error, _("--after and --after-done exclude each other"));
	if (given == NULL)
		return TRUE;
	if (given[1] != NULL)
		return fl_cli_usage_error(error,
					  _("a session waits for one other: give --after or "
					    "--after-done once (chain sessions for an order)"));
	return fl_cli_resolve_id(cli, given[0], &cli->after_id, error);
}

static gboolean
fl_cli_run_one(FlCli *cli, FlDbusFlotilla1 *proxy, GVariant *spec, GError **error)
{
	g_autoptr(GVariant) spec_owned = g_variant_ref_sink(spec);
	g_autoptr(JsonBuilder) builder = NULL;
	g_autoptr(JsonNode) root = NULL;
	guint id = 0;

	guint attempts = 0;

	/* the daemon runs git to learn the goal's repository before it answers */
	fl_cli_set_timeout(cli, FL_CLI_GIT_TIMEOUT_MS);
	while (!fl_dbus_flotilla1_call_run_sync(proxy, spec_owned, &id, NULL, error)) {
		if (!fl_cli_retry_lost(cli, error, &attempts))
			return FALSE;
		proxy = cli->proxy;
		fl_cli_set_timeout(cli, FL_CLI_GIT_TIMEOUT_MS);
	}
	if (!cli->json) {
		fprintf(stdout, "%u\n", id);
		return TRUE;
	}
	builder = json_builder_new();
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "id");
	json_builder_add_int_value(builder, id);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	fl_cli_print_json(root, FALSE);
	return TRUE;
}

/* one call: the daemon queues all of them or none */
static gboolean
fl_cli_run_batch(FlCli *cli, FlDbusFlotilla1 *proxy, GVariant *specs, guint *first, GError **error)
{
	g_autoptr(GVariant) specs_owned = g_variant_ref_sink(specs);
	g_autoptr(GVariant) ids = NULL;
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	GVariantIter iter;
	guint id;
	guint attempts = 0;

	/* thousands of goals in many repositories take the daemon a while to validate */
	fl_cli_set_timeout(cli, FL_CLI_GIT_TIMEOUT_MS);
	while (!fl_dbus_flotilla1_call_run_batch_sync(proxy, specs_owned, &ids, NULL, error)) {
		if (!fl_cli_retry_lost(cli, error, &attempts))
			return FALSE;
		proxy = cli->proxy;
		fl_cli_set_timeout(cli, FL_CLI_GIT_TIMEOUT_MS);
	}
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "ids");
	json_builder_begin_array(builder);
	g_variant_iter_init(&iter, ids);
	while (g_variant_iter_next(&iter, "u", &id)) {
		if (first != NULL && *first == 0)
			*first = id;
		if (!cli->json)
			fprintf(stdout, "%u\n", id);
		json_builder_add_int_value(builder, id);
	}
	json_builder_end_array(builder);
	json_builder_end_object(builder);
	if (cli->json) {
		root = json_builder_get_root(builder);
		fl_cli_print_json(root, FALSE);
	}
	return TRUE;
}

/* the start of a new group's name: the goal's first words, e.g. "fix-the-login" */
static gchar *
fl_cli_group_prefix(const gchar *goal)
{
	g_autoptr(GString) out = g_string_new(NULL);
	guint words = 0;
	gboolean in_word = FALSE;

	for (const gchar *p = goal; *p != '\0' && words <= 3 && out->len < 24; p++) {
		if (g_ascii_isalnum(*p)) {
			if (!in_word) {
				if (++words > 3)
					break;
				if (out->len > 0)
					g_string_append_c(out, '-');
			}
			g_string_append_c(out, g_ascii_tolower(*p));
			in_word = TRUE;
		} else {
			in_word = FALSE;
		}
	}
	if (out->len == 0)
		g_string_assign(out, "group");
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* @spec with the group's keys added */
static GVariant *
fl_cli_group_spec(GVariant *spec, const gchar *group, gboolean new_group, gboolean race)
{
	g_autoptr(GVariant) owned = g_variant_ref_sink(spec);
	g_autoptr(GVariantDict) dict = g_variant_dict_new(owned);

	g_variant_dict_insert(dict, "group", "s", group);
	if (new_group)
		g_variant_dict_insert(dict, "new-group", "b", TRUE);
	if (race)
		g_variant_dict_insert(dict, "group-policy", "s", "first-wins");
	return g_variant_dict_end(dict);
}

#define FL_CLI_RACE_MAX 16

static gboolean
fl_cli_cmd_run(FlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GPtrArray) goals = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) repos = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *cwd = g_get_current_dir();
	g_autofree gchar *group = NULL;
	guint n_agents = cli->agents != NULL ? g_strv_length(cli->agents) : 0;
	const gchar *agent = n_agents > 0 ? cli->agents[0] : NULL;
	guint64 race = 0;
	gboolean grouped;
	guint first = 0;
	GVariantBuilder specs;
	FlDbusFlotilla1 *proxy;

	if (!fl_cli_check_utf8_option("name", cli->name, error) ||
	    !fl_cli_check_utf8_option("base", cli->base, error) ||
	    !fl_cli_check_utf8_option("verify", cli->verify, error) ||
	    !fl_cli_check_utf8_option("on", cli->on, error) ||
	    !fl_cli_check_utf8_option("memory", cli->memory, error) ||
	    !fl_cli_check_utf8_option("timeout", cli->timeout, error) ||
	    !fl_cli_check_utf8_option("group", cli->group, error) ||
	    !fl_cli_check_utf8_option("race", cli->race, error))
		return FALSE;
	for (guint i = 0; i < n_agents; i++) {
		if (!fl_cli_check_utf8_option("agent", cli->agents[i], error))
			return FALSE;
	}
	/* checked here too: a typo is bad usage before any daemon is started */
	if (cli->priority != NULL && g_strcmp0(cli->priority, "high") != 0 &&
	    g_strcmp0(cli->priority, "normal") != 0 && g_strcmp0(cli->priority, "low") != 0) {
		g_autofree gchar *shown = fl_text_clean(cli->priority, -1, FL_TEXT_COLLAPSE_SPACE);
		return fl_cli_usage_error(error, _("'%s' is not a priority (high, normal or low)"),
					  shown);
	}
	if (cli->budget != NULL) {
		gchar *end = NULL;

		cli->budget_usd = g_ascii_strtod(cli->budget, &end);
		if (end == cli->budget || *end != '\0' || !(cli->budget_usd > 0) ||
		    !isfinite(cli->budget_usd)) {
			g_autofree gchar *shown =
				fl_text_clean(cli->budget, -1, FL_TEXT_COLLAPSE_SPACE);
			return fl_cli_usage_error(
				error, _("'%s' is not an amount in dollars, e.g. --budget 2.50"),
				shown);
		}
	}
	if (cli->scratch && cli->base != NULL)
		return fl_cli_usage_error(error, _("--scratch runs outside any repository: it "
						   "takes no --base"));
	if (cli->race != NULL &&
	    !g_ascii_string_to_unsigned(cli->race, 10, 2, FL_CLI_RACE_MAX, &race, NULL)) {
		g_autofree gchar *shown = fl_text_clean(cli->race, -1, FL_TEXT_COLLAPSE_SPACE);
		return fl_cli_usage_error(error,
					  _("--race takes a number of sessions from 2 to %d, "
					    "not '%s'"),
					  FL_CLI_RACE_MAX, shown);
	}
	if (cli->group != NULL && !fl_groups_name_is_valid(cli->group)) {
		g_autofree gchar *shown = fl_text_clean(cli->group, -1, FL_TEXT_COLLAPSE_SPACE);
		return fl_cli_usage_error(error,
					  _("'%s' is not a group name: 1 to 64 letters, digits, "
					    "'.', '_' or '-', starting with a letter or digit"),
					  shown);
	}
	/* several agents race each other, one session each */
	if (n_agents > 1 && race == 0)
		race = n_agents;
	if (race > 0 && race < n_agents)
		return fl_cli_usage_error(error, _("--race %u is fewer than the %u agents given"),
					  (guint)race, n_agents);
	for (guint i = 0; cli->repos != NULL && cli->repos[i] != NULL; i++) {
		gchar *repo = g_canonicalize_filename(cli->repos[i], cwd);
		g_ptr_array_add(repos, repo);
		if (!fl_cli_check_utf8_option("repo", repo, error))
			return FALSE;
	}
	if (race > 0 && repos->len > 1)
		return fl_cli_usage_error(error,
					  _("a race runs in one repository: give one --repo"));
	grouped = cli->group != NULL || race > 0 || repos->len > 1;
	if (grouped && cli->from != NULL)
		return fl_cli_usage_error(error,
					  _("--from takes no --group, --race, several --repo "
					    "or several --agent"));
	/* the daemon finds the default repository from it; without a usable one it says so */
	if (!g_utf8_validate(cwd, -1, NULL))
		g_clear_pointer(&cwd, g_free);

	if (cli->from != NULL) {
		if (args[1] != NULL)
			return fl_cli_usage_error(
				error,
				_("give goals either as arguments or with --from, not both"));
		if (!fl_cli_read_goals(cli->from, goals, error))
			return FALSE;
	} else {
		g_autofree gchar *goal = fl_cli_args_text(args);
		if (!fl_cli_check_text(_("goal"), goal, strlen(goal), error))
			return FALSE;
		g_ptr_array_add(goals, g_steal_pointer(&goal));
	}

	if (!fl_cli_resolve_after(cli, error))
		return FALSE;
	/* one per invocation: a retry after a lost answer is the same request */
	cli->token = g_uuid_string_random();
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	if (grouped) {
		const gchar *repo = repos->len > 0 ? repos->pdata[0] : NULL;
		guint n = race > 0 ? (guint)race : MAX(repos->len, 1);
		g_autoptr(GVariant) session = NULL;
		const gchar *name = NULL;

		group = cli->group != NULL ? g_strdup(cli->group)
					   : fl_cli_group_prefix(goals->pdata[0]);
		g_variant_builder_init(&specs, G_VARIANT_TYPE("aa{sv}"));
		for (guint i = 0; i < n; i++) {
			GVariant *spec = fl_cli_run_spec(
				cli, goals->pdata[0], cwd,
				race > 0 || repos->len == 0 ? repo : repos->pdata[i],
				n_agents > 0 ? cli->agents[i % n_agents] : NULL,
				i == 0 ? cli->token : NULL);
			g_variant_builder_add_value(
				&specs,
				fl_cli_group_spec(spec, group, cli->group == NULL, race > 0));
		}
		if (!fl_cli_run_batch(cli, proxy, g_variant_builder_end(&specs), &first, error))
			return FALSE;
		/* the name the daemon gave a new group: what approve @NAME takes */
		session = fl_cli_get_session(cli, first, NULL);
		if (session != NULL && g_variant_lookup(session, "group", "&s", &name) &&
		    !cli->json)
			fprintf(stderr, _("group @%s\n"), name);
		return TRUE;
	}
	if (cli->from == NULL)
		return fl_cli_run_one(cli, proxy,
				      fl_cli_run_spec(cli, goals->pdata[0], cwd,
						      repos->len > 0 ? repos->pdata[0] : NULL,
						      agent, cli->token),
				      error);
	g_variant_builder_init(&specs, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; i < goals->len; i++)
		g_variant_builder_add_value(&specs,
					    fl_cli_run_spec(cli, goals->pdata[i], cwd,
							    repos->len > 0 ? repos->pdata[0] : NULL,
							    agent, i == 0 ? cli->token : NULL));
	return fl_cli_run_batch(cli, proxy, g_variant_builder_end(&specs), NULL, error);
}

/* ---- ls ---- */

static void
fl_cli_options_ls(FlCli *cli, GOptionContext *context)
{
	const GOptionEntry entries[] = {
		{"all", 'a', 0, G_OPTION_ARG_NONE, &cli->all, N_("Include every finished session"),
		 NULL},
		{"limit", 'n', 0, G_OPTION_ARG_INT, &cli->limit, N_("Show at most N sessions"),
		 N_("N")},
		{"json", 0, 0, G_OPTION_ARG_NONE, &cli->json, N_("Print a JSON array"), NULL},
		{NULL}};
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
}

typedef enum {
	FL_CLI_GROUP_BLOCKED,
	FL_CLI_GROUP_DRAFTS,
	FL_CLI_GROUP_RUNNING,
	FL_CLI_GROUP_QUEUED,
	FL_CLI_GROUP_FINISHED,
	FL_CLI_GROUP_LAST
} FlCliGroup;

static const gchar *const fl_cli_group_headings[] = {N_("Needs input"), N_("Drafts to review"),
						     N_("Running"), N_("Queued"),
						     N_("Recently finished")};

G_STATIC_ASSERT(G_N_ELEMENTS(fl_cli_group_headings) == FL_CLI_GROUP_LAST);

static FlCliGroup
fl_cli_session_group(GVariant *session)
{
	const gchar *state = fl_cli_dict_str(session, "state");

	if (g_strcmp0(state, "blocked") == 0)
		return FL_CLI_GROUP_BLOCKED;
	if (g_strcmp0(fl_cli_dict_str(session, "review"), "pending") == 0)
		return FL_CLI_GROUP_DRAFTS;
	if (g_strcmp0(state, "running") == 0)
		return FL_CLI_GROUP_RUNNING;
	if (g_strcmp0(state, "queued") == 0)
		return FL_CLI_GROUP_QUEUED;
	return FL_CLI_GROUP_FINISHED;
}

/* "LABEL: TEXT" or just TEXT, cleaned to one line; nothing when @text is NULL */
static void
fl_cli_add_clean(GPtrArray *parts, const gchar *label, const gchar *text)
{
	g_autofree gchar *clean = NULL;

	if (text == NULL)
		return;
	clean = fl_text_clean(text, -1, FL_TEXT_COLLAPSE_SPACE);
	if (label == NULL)
		g_ptr_array_add(parts, g_steal_pointer(&clean));
	else
		g_ptr_array_add(parts, g_strdup_printf("%s: %s", label, clean));
}

/* git's "3 files changed, 12 insertions(+), 4 deletions(-)" as "3 files +12 -4"; anything
 * else as it came, on one line */
static gchar *
fl_cli_short_diffstat(const gchar *diffstat)
{
	g_auto(GStrv) parts = g_strsplit(diffstat, ",", -1);
	guint64 files = 0;
	guint64 insertions = 0;
	guint64 deletions = 0;

	for (guint i = 0; parts[i] != NULL; i++) {
		const gchar *part = g_strstrip(parts[i]);
		gchar *end = NULL;
		guint64 n = g_ascii_strtoull(part, &end, 10);

		if (end == part)
			return fl_text_clean(diffstat, -1, FL_TEXT_COLLAPSE_SPACE);
		while (*end == ' ')
			end++;
		if (g_str_has_prefix(end, "file"))
			files = n;
		else if (g_str_has_prefix(end, "insertion"))
			insertions = n;
		else if (g_str_has_prefix(end, "deletion"))
			deletions = n;
		else
			return fl_text_clean(diffstat, -1, FL_TEXT_COLLAPSE_SPACE);
	}
	return g_strdup_printf(g_dngettext(GETTEXT_PACKAGE, "%lu file +%lu -%lu",
					   "%lu files +%lu -%lu", (gulong)files),
			       (gulong)files, (gulong)insertions, (gulong)deletions);
}

/* "verify ✓", "verify ✗", "verify ✗ timeout" */
static gchar *
fl_cli_verify_mark(FlVerify verify)
{
	switch (verify) {
	case FL_VERIFY_PASS:
		return g_strdup(_("verify ✓"));
	case FL_VERIFY_FAIL:
		return g_strdup(_("verify ✗"));
	case FL_VERIFY_TIMEOUT:
		return g_strdup(_("verify ✗ timeout"));
	case FL_VERIFY_NONE:
	default:
		return NULL;
	}
}

/* the session's verify result; FL_VERIFY_NONE when it has none (or one we do not know) */
static FlVerify
fl_cli_dict_verify(GVariant *session)
{
	FlVerify verify;

	fl_verify_from_string(fl_cli_dict_str(session, "verify"), &verify);
	return verify;
}

/* the verify mark, and that it is stale when it ran against a base that is not the tip */
static gchar *
fl_cli_session_verify_mark(GVariant *session)
{
	g_autofree gchar *mark = NULL;
	gboolean stale = FALSE;

	mark = fl_cli_verify_mark(fl_cli_dict_verify(session));
	if (mark == NULL || !g_variant_lookup(session, "verify_stale", "b", &stale) || !stale)
		return g_steal_pointer(&mark);
	/* TRANSLATORS: a verify mark ("verify ✓") of a draft whose base branch moved since */
	return g_strdup_printf(_("%s (stale: base moved)"), mark);
}

static void
fl_cli_add_exit(GPtrArray *parts, GVariant *session)
{
	gint64 value;

	if (fl_cli_dict_int(session, "signal", &value) && value > 0)
		g_ptr_array_add(parts, g_strdup_printf(_("signal %d"), (gint)value));
	else if (fl_cli_dict_int(session, "exit_code", &value))
		g_ptr_array_add(parts, g_strdup_printf(_("exit %d"), (gint)value));
}

/* what a line of Claude's stream-json says the agent is doing, or NULL */
static gchar *
fl_cli_activity_from_json(const gchar *line)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *obj;
	JsonObject *message;
	JsonArray *content;
	const gchar *type;

	/* most lines are plain output: only what looks like an object is parsed */
	if (line[0] != '{' || !json_parser_load_from_data(parser, line, -1, NULL) ||
	    json_parser_get_root(parser) == NULL ||
	    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
		return NULL;
	obj = json_node_get_object(json_parser_get_root(parser));
	type = fl_json_get_string(obj, "type");
	if (g_strcmp0(type, "assistant") != 0 || !json_object_has_member(obj, "message") ||
	    !JSON_NODE_HOLDS_OBJECT(json_object_get_member(obj, "message")))
		return NULL;
	message = json_object_get_object_member(obj, "message");
	if (!json_object_has_member(message, "content") ||
	    !JSON_NODE_HOLDS_ARRAY(json_object_get_member(message, "content")))
		return NULL;
	content = json_object_get_array_member(message, "content");
	for (guint i = json_array_get_length(content); i > 0; i--) {
		JsonNode *node = json_array_get_element(content, i - 1);
		JsonObject *item = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
		const gchar *kind = fl_json_get_string(item, "type");
		if (g_strcmp0(kind, "tool_use") == 0 && fl_json_get_string(item, "name") != NULL)
			/* TRANSLATORS: what an agent does now, e.g. "tool Bash" */
			return g_strdup_printf(_("tool %s"), fl_json_get_string(item, "name"));
		if (g_strcmp0(kind, "text") == 0 && fl_json_get_string(item, "text") != NULL)
			return g_strdup(fl_json_get_string(item, "text"));
	}
	return NULL;
}

/*
 * What a running session is doing now: the last line of its output that says something (a
 * shell's last output line, Claude's current tool or last message) and how long ago it was
 * written, e.g. "running tests… (12s ago)". NULL when there is nothing to show.
 */
static gchar *
fl_cli_last_activity(GVariant *session, gsize max_chars)
{
	const gchar *path = fl_cli_dict_str(session, "log_path");
	g_autoptr(GFile) file = NULL;
	g_autoptr(GFileInputStream) in = NULL;
	g_autoptr(GFileInfo) info = NULL;
	g_auto(GStrv) lines = NULL;
	g_autofree gchar *buf = NULL;
	g_autofree gchar *ago = NULL;
	goffset size;
	gssize n;

	if (path == NULL)
		return NULL;
	file = g_file_new_for_path(path);
	info = g_file_query_info(file,
				 G_FILE_ATTRIBUTE_STANDARD_SIZE "," G_FILE_ATTRIBUTE_TIME_MODIFIED,
				 G_FILE_QUERY_INFO_NONE, NULL, NULL);
	in = g_file_read(file, NULL, NULL);
	if (info == NULL || in == NULL)
		return NULL;
	/* the end of the log only: it may be gigabytes */
	size = g_file_info_get_size(info);
	if (size > 16384)
		g_seekable_seek(G_SEEKABLE(in), size - 16384, G_SEEK_SET, NULL, NULL);
	buf = g_malloc(16385);
	n = g_input_stream_read(G_INPUT_STREAM(in), buf, 16384, NULL, NULL);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	lines = g_strsplit(buf, "\n", -1);
	{
		g_autoptr(GDateTime) mtime = g_file_info_get_modification_date_time(info);
		g_autoptr(GDateTime) now = g_date_time_new_now_utc();
		if (mtime != NULL)
			ago = fl_cli_format_duration(
				MAX(0, g_date_time_difference(now, mtime) / G_TIME_SPAN_SECOND));
	}
	for (guint i = g_strv_length(lines); i > 0; i--) {
		g_autofree gchar *said = fl_cli_activity_from_json(lines[i - 1]);
		g_autofree gchar *clean = fl_text_clean(said != NULL ? said : lines[i - 1], -1,
							FL_TEXT_COLLAPSE_SPACE);
		g_autofree gchar *shown = NULL;

		/* an unrecognised JSON line says nothing to a person */
		if (clean[0] == '\0' || (said == NULL && clean[0] == '{'))
			continue;
		shown = fl_cli_ellipsize(clean, max_chars);
		if (ago == NULL)
			return g_steal_pointer(&shown);
		/* TRANSLATORS: the last thing a session did and how long ago, "make: ok (5s ago)"
		 */
		return g_strdup_printf(_("%s (%s ago)"), shown, ago);
	}
	return NULL;
}

/* what the group's reader wants to know about one session, plain text */
static gchar *
fl_cli_session_detail(GVariant *session, FlCliGroup group)
{
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(g_free);
	const gchar *finished = fl_cli_dict_str(session, "finished");
	const gchar *review = fl_cli_dict_str(session, "review");
	gchar *part;
	gint64 seconds;
	gint64 turns;
	gdouble cost;

	switch (group) {
	case FL_CLI_GROUP_BLOCKED:
		if (fl_cli_dict_str(session, "waiting_for") != NULL)
			fl_cli_add_clean(parts, _("asks"), fl_cli_dict_str(session, "waiting_for"));
		else
			g_ptr_array_add(parts, g_strdup(_("needs input")));
		break;
	case FL_CLI_GROUP_DRAFTS:
		if (fl_cli_dict_str(session, "diffstat") != NULL)
			g_ptr_array_add(
				parts, fl_cli_short_diffstat(fl_cli_dict_str(session, "diffstat")));
		part = fl_cli_session_verify_mark(session);
		if (part != NULL)
			g_ptr_array_add(parts, part);
		part = fl_cli_format_age(finished != NULL ? finished
							  : fl_cli_dict_str(session, "created"));
		if (part != NULL)
			g_ptr_array_add(parts, part);
		fl_cli_add_clean(parts, NULL, fl_cli_dict_str(session, "landing"));
		break;
	case FL_CLI_GROUP_RUNNING:
		/* on a cluster: what Slurm says ("queued on lab: Resources") */
		if (fl_cli_dict_str(session, "placement_status") != NULL)
			fl_cli_add_clean(parts, NULL, fl_cli_dict_str(session, "placement_status"));
		if (fl_cli_seconds_since(fl_cli_dict_str(session, "started"), &seconds))
			g_ptr_array_add(parts, fl_cli_format_duration(seconds));
		if (fl_cli_dict_int(session, "turns", &turns))
			g_ptr_array_add(parts,
					g_strdup_printf(g_dngettext(GETTEXT_PACKAGE, "%u turn",
								    "%u turns", (gulong)turns),
							(guint)turns));
		if (fl_cli_dict_double(session, "cost_usd", &cost))
			g_ptr_array_add(parts, fl_cli_format_cost(cost));
		part = fl_cli_last_activity(session, FL_CLI_ACTIVITY_MAX);
		if (part != NULL)
			g_ptr_array_add(parts, part);
		break;
	case FL_CLI_GROUP_QUEUED:
		if (g_strcmp0(fl_cli_dict_str(session, "priority"), "high") == 0)
			g_ptr_array_add(parts, g_strdup(_("high priority")));
		else if (g_strcmp0(fl_cli_dict_str(session, "priority"), "low") == 0)
			g_ptr_array_add(parts, g_strdup(_("low priority")));
		fl_cli_add_clean(parts, _("on"), fl_cli_dict_str(session, "placement"));
		fl_cli_add_clean(parts, _("held"), fl_cli_dict_str(session, "held"));
		break;
	case FL_CLI_GROUP_FINISHED:
	case FL_CLI_GROUP_LAST:
		if (g_strcmp0(review, "approved") == 0 || g_strcmp0(review, "rejected") == 0 ||
		    g_strcmp0(review, "reverted") == 0)
			g_ptr_array_add(parts, g_strdup(fl_cli_review_label(review)));
		/* the daemon's reason ("exited with status 3") says more than the bare status */
		if (fl_cli_dict_str(session, "reason") != NULL)
			fl_cli_add_clean(parts, NULL, fl_cli_dict_str(session, "reason"));
		else
			fl_cli_add_exit(parts, session);
		part = fl_cli_format_age(finished);
		if (part != NULL)
			g_ptr_array_add(parts, part);
		break;
	}
	g_ptr_array_add(parts, NULL);
	return g_strjoinv(" · ", (gchar **)parts->pdata);
}

/* column widths of the terminal table, fitted to the terminal and to what it shows */
typedef struct {
	gsize columns;
	gsize id;
	gsize title;
	gsize state;
} FlCliLayout;

static const gchar *
fl_cli_state_color(const gchar *state)
{
	if (g_strcmp0(state, "blocked") == 0)
		return FL_CLI_YELLOW;
	if (g_strcmp0(state, "failed") == 0 || g_strcmp0(state, "interrupted") == 0)
		return FL_CLI_RED;
	if (g_strcmp0(state, "done") == 0)
		return FL_CLI_GREEN;
	return NULL;
}

/* "  #12  TITLE…  STATE  DETAIL", at most @layout->columns columns */
static gchar *
fl_cli_session_line(FlCli *cli, GVariant *session, FlCliGroup group, const FlCliLayout *layout)
{
	g_autofree gchar *id = g_strdup_printf("#%u", fl_cli_dict_id(session));
	g_autofree gchar *title_full = fl_cli_session_title(session);
	g_autofree gchar *title = fl_cli_ellipsize(title_full, layout->title);
	const gchar *state_raw = fl_cli_dict_str(session, "state");
	g_autofree gchar *state =
		fl_text_clean(fl_cli_state_label(state_raw), -1, FL_TEXT_COLLAPSE_SPACE);
	g_autofree gchar *detail_full = fl_cli_session_detail(session, group);
	g_autofree gchar *detail = NULL;
	const gchar *state_color = fl_cli_state_color(state_raw);
	GString *line = g_string_new("  ");
	gsize used = 2 + layout->id + 2 + layout->title + 2 + layout->state + 2;

	fl_cli_append_padded(line, id, layout->id);
	g_string_append(line, "  ");
	fl_cli_append_padded(line, title, layout->title);
	g_string_append(line, "  ");
	/* escape sequences take no columns: pad by the plain text's width */
	if (cli->color && state_color != NULL)
		g_string_append_printf(line, "%s%s%s", state_color, state, FL_CLI_RESET);
	else
		g_string_append(line, state);
	if (detail_full[0] == '\0')
		return g_string_free(line, FALSE);
	for (gsize w = fl_cli_width(state); w < layout->state; w++)
		g_string_append_c(line, ' ');
	g_string_append(line, "  ");
	detail = fl_cli_ellipsize(detail_full, used < layout->columns ? layout->columns - used : 0);
	g_string_append(line, detail);
	if (cli->color && group == FL_CLI_GROUP_DRAFTS) {
		g_string_replace(line, "✓", FL_CLI_GREEN "✓" FL_CLI_RESET, 0);
		g_string_replace(line, "✗", FL_CLI_RED "✗" FL_CLI_RESET, 0);
	}
	return g_string_free(line, FALSE);
}

static gint
fl_cli_compare_id(gconstpointer a, gconstpointer b)
{
	guint ia = fl_cli_dict_id(*(GVariant *const *)a);
	guint ib = fl_cli_dict_id(*(GVariant *const *)b);
	return ia < ib ? -1 : ia > ib;
}

/* the order the queue starts them: high priority first, then by id */
static gint
fl_cli_compare_queue(gconstpointer a, gconstpointer b)
{
	GVariant *va = *(GVariant *const *)a;
	GVariant *vb = *(GVariant *const *)b;
	const gchar *pa = fl_cli_dict_str(va, "priority");
	const gchar *pb = fl_cli_dict_str(vb, "priority");
	gint ra = g_strcmp0(pa, "high") == 0 ? 0 : g_strcmp0(pa, "low") == 0 ? 2 : 1;
	gint rb = g_strcmp0(pb, "high") == 0 ? 0 : g_strcmp0(pb, "low") == 0 ? 2 : 1;

	if (ra != rb)
		return ra - rb;
	return fl_cli_compare_id(a, b);
}

static gchar *
fl_cli_status_held(FlCli *cli, GError **error)
{
	g_autoptr(GVariant) status = NULL;
	const gchar *held;

	if (!fl_dbus_flotilla1_call_get_status_sync(cli->proxy, &status, NULL, error))
		return NULL;
	held = fl_cli_dict_str(status, "held");
	return g_strdup(held != NULL ? held : "");
}

/* the agent view for a person at a terminal: groups, a compact table, colour, ages */
static void
fl_cli_print_agent_view(FlCli *cli, GVariant *sessions, const gchar *held)
{
	GPtrArray *groups[FL_CLI_GROUP_LAST];
	GString *out;
	FlCliLayout layout = {fl_cli_terminal_columns(STDOUT_FILENO), 0, 0, 0};
	gsize title_width = 0;
	gsize room;
	GVariantIter iter;
	GVariant *session;

	if (g_variant_n_children(sessions) == 0) {
		fprintf(stdout, "%s\n", _("No sessions."));
		return;
	}
	for (guint g = 0; g < FL_CLI_GROUP_LAST; g++)
		groups[g] = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	g_variant_iter_init(&iter, sessions);
	while ((session = g_variant_iter_next_value(&iter)) != NULL) {
		g_autofree gchar *id = g_strdup_printf("#%u", fl_cli_dict_id(session));
		g_autofree gchar *title = fl_cli_session_title(session);
		const gchar *state = fl_cli_state_label(fl_cli_dict_str(session, "state"));
		layout.id = MAX(layout.id, strlen(id));
		layout.state = MAX(layout.state, fl_cli_width(state));
		title_width = MAX(title_width, fl_cli_width(title));
		g_ptr_array_add(groups[fl_cli_session_group(session)], session);
	}
	/* titles and details share what the id and state columns leave */
	room = 2 + layout.id + 2 + 2 + layout.state + 2;
	room = layout.columns > room ? layout.columns - room : 0;
	layout.title = MIN(title_width, CLAMP(room / 2, FL_CLI_TITLE_MIN, FL_CLI_TITLE_MAX));
	/* the daemon lists newest first; the queue reads best in the order it starts */
	g_ptr_array_sort(groups[FL_CLI_GROUP_QUEUED], fl_cli_compare_queue);

	out = g_string_new(NULL);
	for (guint g = 0; g < FL_CLI_GROUP_LAST; g++) {
		gboolean held_here = g == FL_CLI_GROUP_QUEUED && held[0] != '\0';
		if (groups[g]->len == 0 && !held_here)
			continue;
		if (out->len > 0)
			g_string_append_c(out, '\n');
		if (groups[g]->len > 0) {
			g_autofree gchar *heading =
				fl_cli_style(cli, FL_CLI_BOLD, _(fl_cli_group_headings[g]));
			g_string_append_printf(out, "%s\n", heading);
		}
		for (guint i = 0; i < groups[g]->len; i++) {
			g_autofree gchar *line =
				fl_cli_session_line(cli, groups[g]->pdata[i], g, &layout);
			g_string_append_printf(out, "%s\n", line);
		}
		if (held_here) {
			g_autofree gchar *reason = fl_text_clean(held, -1, FL_TEXT_COLLAPSE_SPACE);
			g_autofree gchar *text = g_strdup_printf(_("Queue held: %s"), reason);
			g_autofree gchar *shown = fl_cli_ellipsize(text, layout.columns);
			g_string_append_printf(out, "%s\n", shown);
		}
	}
	fputs(out->str, stdout);
	g_string_free(out, TRUE);
	for (guint g = 0; g < FL_CLI_GROUP_LAST; g++)
		g_ptr_array_unref(groups[g]);
}

/*
 * `flotilla ls` into a pipe or file: one line per session, newest first, tab-separated
 * fields that never contain a tab or newline, in English, with no widths or relative times:
 *   ID  STATE  REVIEW  TITLE  NOTE
 * NOTE is where a session on a cluster is (Slurm's words) or what a running one did last,
 * what a blocked session asks, why a failed, cancelled or interrupted one ended, or
 * why the queue does not start a queued one; else "unconfined" for a session run with
 * confinement off; empty otherwise.
 */
static void
fl_cli_print_plain(GVariant *sessions, const gchar *held)
{
	GString *out = g_string_new(NULL);
	GVariantIter iter;
	GVariant *session;

	g_variant_iter_init(&iter, sessions);
	while ((session = g_variant_iter_next_value(&iter)) != NULL) {
		const gchar *state = fl_cli_dict_str(session, "state");
		const gchar *review = fl_cli_dict_str(session, "review");
		const gchar *note = NULL;
		g_autofree gchar *title = fl_cli_session_title(session);
		g_autofree gchar *state_clean =
			fl_text_clean(state != NULL ? state : "", -1, FL_TEXT_COLLAPSE_SPACE);
		g_autofree gchar *review_clean =
			fl_text_clean(review != NULL ? review : "none", -1, FL_TEXT_COLLAPSE_SPACE);
		g_autofree gchar *note_clean = NULL;
		g_autofree gchar *activity = NULL;
		g_autofree gchar *stale_mark = NULL;
		gboolean verify_stale = FALSE;

		/* on a cluster, what Slurm says matters more than the agent's last words */
		if (g_strcmp0(state, "running") == 0 &&
		    fl_cli_dict_str(session, "placement_status") != NULL)
			note = fl_cli_dict_str(session, "placement_status");
		else if (g_strcmp0(state, "running") == 0)
			note = activity = fl_cli_last_activity(session, FL_CLI_ACTIVITY_MAX);
		else if (g_strcmp0(state, "blocked") == 0)
			note = fl_cli_dict_str(session, "waiting_for");
		else if (g_strcmp0(state, "queued") == 0)
			note = held[0] != '\0' ? held : fl_cli_dict_str(session, "held");
		else if (g_strcmp0(review, "pending") == 0 &&
			 fl_cli_dict_str(session, "landing") != NULL)
			note = fl_cli_dict_str(session, "landing");
		else if (g_strcmp0(review, "pending") == 0 &&
			 g_variant_lookup(session, "verify_stale", "b", &verify_stale) &&
			 verify_stale)
			note = stale_mark = fl_cli_session_verify_mark(session);
		else if (g_strcmp0(state, "done") != 0)
			note = fl_cli_dict_str(session, "reason");
		/* a queued session out of the usual order says so where nothing else is said */
		if (note == NULL && g_strcmp0(state, "queued") == 0 &&
		    g_strcmp0(fl_cli_dict_str(session, "priority"), "normal") != 0 &&
		    fl_cli_dict_str(session, "priority") != NULL)
			note = g_strcmp0(fl_cli_dict_str(session, "priority"), "high") == 0
				       ? "high priority"
				       : "low priority";
		/* the user turned confinement off for it: say so where nothing else is said */
		if (note == NULL && g_strcmp0(fl_cli_dict_str(session, "confinement"), "off") == 0)
			note = "unconfined";
		note_clean = fl_text_clean(note != NULL ? note : "", -1, FL_TEXT_COLLAPSE_SPACE);
		g_string_append_printf(out, "%u\t%s\t%s\t%s\t%s\n", fl_cli_dict_id(session),
				       state_clean, review_clean, title, note_clean);
		g_variant_unref(session);
	}
	fputs(out->str, stdout);
	g_string_free(out, TRUE);
}

/*
 * `ls --all` fetches the list in pages: one message for 100 000 sessions would be ~90 MB that
 * the daemon builds while its main loop waits and the CLI holds as a tree of millions of
 * values; the next page is asked for while the last one is printed
 */
#define FL_CLI_LS_PAGE 500

typedef struct {
	GVariant *sessions; /* (owned) (nullable) */
	GError *error;      /* (owned) (nullable) */
	gboolean done;
} FlCliPage;

static void
fl_cli_page_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	FlCliPage *page = user_data;

	fl_dbus_flotilla1_call_list_sessions_finish(FL_DBUS_FLOTILLA1(source), &page->sessions, res,
						    &page->error);
	page->done = TRUE;
}

/* @before: only sessions with a lower id (with @all), 0 = from the newest */
static void
fl_cli_page_request(FlDbusFlotilla1 *proxy, gboolean all, guint limit, guint before,
		    FlCliPage *page)
{
	GVariantBuilder builder;

	page->done = FALSE;
	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&builder, "{sv}", "all", g_variant_new_boolean(all));
	if (limit > 0)
		g_variant_builder_add(&builder, "{sv}", "limit", g_variant_new_uint32(limit));
	if (before > 0)
		g_variant_builder_add(&builder, "{sv}", "before", g_variant_new_uint32(before));
	fl_dbus_flotilla1_call_list_sessions(proxy, g_variant_builder_end(&builder), NULL,
					     fl_cli_page_cb, page);
}

static GVariant *
fl_cli_page_wait(FlCliPage *page, GError **error)
{
	while (!page->done)
		g_main_context_iteration(NULL, TRUE);
	if (page->error != NULL) {
		g_propagate_error(error, g_steal_pointer(&page->error));
		return NULL;
	}
	return g_steal_pointer(&page->sessions);
}

/* one element of the array `ls --json` prints, as json-glib would pretty-print the array */
static void
fl_cli_json_print_element(JsonGenerator *generator, GVariant *session, gboolean first)
{
	g_autoptr(JsonBuilder) json = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *data = NULL;
	GString *out;

	fl_cli_json_add_session(json, session);
	root = json_builder_get_root(json);
	json_generator_set_root(generator, root);
	data = json_generator_to_data(generator, NULL);
	out = g_string_sized_new(strlen(data) + 256);
	g_string_append(out, first ? "[\n  " : ",\n  ");
	/* JSON escapes the newlines of strings: every line break is the generator's */
	for (const gchar *p = data; *p != '\0'; p++) {
		g_string_append_c(out, *p);
		if (*p == '\n')
			g_string_append(out, "  ");
	}
	fputs(out->str, stdout);
	g_string_free(out, TRUE);
}

/* the size of the next page of `ls --all`, @printed of @limit (0 = every session) shown */
static guint
fl_cli_ls_page_size(guint limit, guint printed)
{
	return limit > 0 ? MIN(limit - printed, FL_CLI_LS_PAGE) : FL_CLI_LS_PAGE;
}

static gboolean
fl_cli_cmd_ls(FlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GVariant) sessions = NULL;
	g_autoptr(GPtrArray) kept = NULL;
	g_autoptr(JsonGenerator) generator = NULL;
	g_autofree gchar *held = NULL;
	FlDbusFlotilla1 *proxy;
	FlCliPage page = {NULL, NULL, FALSE};
	guint limit = cli->limit > 0 ? (guint)cli->limit : 0;
	guint asked;
	guint printed = 0;
	guint before = 0;
	guint skip_from = 0;
	gboolean more = TRUE;

	if (!fl_cli_args_none(args, error))
		return FALSE;
	if (cli->limit != -1 && cli->limit <= 0)
		return fl_cli_usage_error(error, _("--limit must be a positive number"));
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;

	if (cli->json) {
		generator = json_generator_new();
		json_generator_set_pretty(generator, TRUE);
	} else {
		kept = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	}
	/* the default view is short: one call */
	asked = cli->all ? fl_cli_ls_page_size(limit, 0) : limit;
	fl_cli_page_request(proxy, cli->all, asked, 0, &page);
	while (more) {
		g_autoptr(GVariant) first = NULL;
		GVariantIter iter;
		GVariant *session;
		guint n;

		sessions = fl_cli_page_wait(&page, error);
		if (sessions == NULL)
			return FALSE;
		n = g_variant_n_children(sessions);
		if (n > 0)
			first = g_variant_get_child_value(sessions, 0);
		if (before > 0 && first != NULL && fl_cli_dict_id(first) >= before) {
			/* a flotillad from before paging ignores "before": the rest in one call,
			 * without what was printed already */
			g_clear_pointer(&sessions, g_variant_unref);
			fl_cli_page_request(proxy, TRUE, limit, 0, &page);
			sessions = fl_cli_page_wait(&page, error);
			if (sessions == NULL)
				return FALSE;
			skip_from = before;
			more = FALSE;
		} else {
			more = cli->all && n == asked && (limit == 0 || printed + n < limit);
		}
		if (more) {
			g_autoptr(GVariant) last = g_variant_get_child_value(sessions, n - 1);
			before = fl_cli_dict_id(last);
			asked = fl_cli_ls_page_size(limit, printed + n);
			fl_cli_page_request(proxy, TRUE, asked, before, &page);
		}
		g_variant_iter_init(&iter, sessions);
		while ((session = g_variant_iter_next_value(&iter)) != NULL) {
			g_autoptr(GVariant) owned = session;
			if (skip_from > 0 && fl_cli_dict_id(session) >= skip_from)
				continue;
			if (generator != NULL)
				fl_cli_json_print_element(generator, session, printed == 0);
			else
				g_ptr_array_add(kept, g_steal_pointer(&owned));
			printed++;
		}
		g_clear_pointer(&sessions, g_variant_unref);
	}

	if (generator != NULL) {
		fputs(printed == 0 ? "[]\n" : "\n]\n", stdout);
		return TRUE;
	}
	sessions = g_variant_ref_sink(g_variant_new_array(
		G_VARIANT_TYPE("a{sv}"), (GVariant *const *)kept->pdata, kept->len));
	held = fl_cli_status_held(cli, error);
	if (held == NULL)
		return FALSE;
	if (cli->tty)
		fl_cli_print_agent_view(cli, sessions, held);
	else
		fl_cli_print_plain(sessions, held);
	return TRUE;
}

/* ---- show ---- */

static void
fl_cli_options_json(FlCli *cli, GOptionContext *context)
{
	const GOptionEntry entries[] = {
		{"json", 0, 0, G_OPTION_ARG_NONE, &cli->json, N_("Print JSON"), NULL}, {NULL}};
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
}

static gchar *
fl_cli_format_value(const gchar *key, GVariant *value)
{
	gint64 number;
	gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

	if (fl_cli_variant_int(value, &number))
		return g_strdup_printf("%" G_GINT64_FORMAT, number);
	switch (g_variant_classify(value)) {
	case G_VARIANT_CLASS_STRING:
	case G_VARIANT_CLASS_OBJECT_PATH:
	case G_VARIANT_CLASS_SIGNATURE:
		return fl_text_clean(g_variant_get_string(value, NULL), -1, FL_TEXT_MULTILINE);
	case G_VARIANT_CLASS_BOOLEAN:
		return g_strdup(g_variant_get_boolean(value) ? _("yes") : _("no"));
	case G_VARIANT_CLASS_ARRAY: {
		/* session ids as "#4, #7", file names as they are: one line, comma separated */
		GString *joined = g_string_new(NULL);
		GVariantIter iter;
		GVariant *child;

		g_variant_iter_init(&iter, value);
		while ((child = g_variant_iter_next_value(&iter)) != NULL) {
			g_autoptr(GVariant) owned = child;
			g_autofree gchar *one = fl_cli_format_value(key, owned);

			g_string_append_printf(
				joined, "%s%s%s", joined->len > 0 ? ", " : "",
				g_variant_is_of_type(owned, G_VARIANT_TYPE_UINT32) ? "#" : "", one);
		}
		return g_string_free(joined, FALSE);
	}
	case G_VARIANT_CLASS_DOUBLE:
		if (g_strcmp0(key, "cost_usd") == 0)
			return fl_cli_format_cost(g_variant_get_double(value));
		return g_strdup(
			g_ascii_formatd(buf, sizeof buf, "%g", g_variant_get_double(value)));
	default: {
		g_autofree gchar *printed = g_variant_print(value, FALSE);
		return fl_text_clean(printed, -1, FL_TEXT_COLLAPSE_SPACE);
	}
	}
}

/* "key: value"; lines after the first of a multi-line value go two spaces deeper than @indent */
static void
fl_cli_append_field(GString *out, const gchar *indent, const gchar *key, const gchar *text)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

	g_string_append_printf(out, "%s%s: %s\n", indent, key, lines[0] != NULL ? lines[0] : "");
	for (guint i = 1; lines[0] != NULL && lines[i] != NULL; i++) {
		if (lines[i][0] != '\0')
			g_string_append_printf(out, "%s  %s", indent, lines[i]);
		g_string_append_c(out, '\n');
	}
}

static void
fl_cli_append_dict_field(GString *out, GVariant *dict, const gchar *key)
{
	g_autoptr(GVariant) value = g_variant_lookup_value(dict, key, NULL);
	g_autofree gchar *text = NULL;

	if (value == NULL)
		return;
	text = fl_cli_format_value(key, value);
	fl_cli_append_field(out, "", key, text);
}

static gint
fl_cli_compare_str(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

static void
fl_cli_print_session_fields(GVariant *session)
{
	GString *out = g_string_new(NULL);
	g_autoptr(GPtrArray) others = g_ptr_array_new_with_free_func(g_free);
	GVariantIter iter;
	const gchar *key;

	for (guint i = 0; fl_cli_session_keys[i] != NULL; i++)
		fl_cli_append_dict_field(out, session, fl_cli_session_keys[i]);
	for (guint i = 0; fl_cli_session_path_keys[i] != NULL; i++)
		fl_cli_append_dict_field(out, session, fl_cli_session_path_keys[i]);
	/* keys a newer daemon added: shown, never dropped */
	g_variant_iter_init(&iter, session);
	while (g_variant_iter_next(&iter, "{&sv}", &key, NULL)) {
		if (!g_strv_contains(fl_cli_session_keys, key) &&
		    !g_strv_contains(fl_cli_session_path_keys, key))
			g_ptr_array_add(others, fl_text_clean(key, -1, FL_TEXT_COLLAPSE_SPACE));
	}
	g_ptr_array_sort(others, fl_cli_compare_str);
	for (guint i = 0; i < others->len; i++)
		fl_cli_append_dict_field(out, session, others->pdata[i]);
	fputs(out->str, stdout);
	g_string_free(out, TRUE);
}

/* the audit trail: what happened to the session, who decided, from where */
static void
fl_cli_print_history(FlCli *cli, guint id)
{
	FlDbusFlotilla1 *proxy = fl_cli_proxy(cli, NULL);
	g_autoptr(GVariant) events = NULL;
	GVariantIter iter;
	const gchar *when, *kind, *source, *note;

	if (proxy == NULL ||
	    !fl_dbus_flotilla1_call_get_events_sync(proxy, id, &events, NULL, NULL) ||
	    g_variant_n_children(events) == 0)
		return;
	g_print("%s\n", _("history:"));
	g_variant_iter_init(&iter, events);
	while (g_variant_iter_next(&iter, "(&s&s&s&s)", &when, &kind, &source, &note)) {
		g_autofree gchar *clean = fl_text_clean(note, -1, FL_TEXT_COLLAPSE_SPACE);
		g_print("  %s  %s", when, kind);
		if (source[0] != '\0')
			g_print(" (%s)", source);
		if (clean[0] != '\0')
			g_print(": %s", clean);
		g_print("\n");
	}
}

/* the session's history for `show --json`: who decided what, from where, oldest first; an
 * empty array when flotillad cannot say (the session's own fields still print) */
static JsonArray *
fl_cli_json_history(FlCli *cli, guint id)
{
	FlDbusFlotilla1 *proxy = fl_cli_proxy(cli, NULL);
	g_autoptr(GVariant) events = NULL;
	JsonArray *history = json_array_new();
	GVariantIter iter;
	const gchar *when, *kind, *source, *note;

	if (proxy == NULL ||
	    !fl_dbus_flotilla1_call_get_events_sync(proxy, id, &events, NULL, NULL))
		return history;
	g_variant_iter_init(&iter, events);
	while (g_variant_iter_next(&iter, "(&s&s&s&s)", &when, &kind, &source, &note)) {
		JsonObject *event = json_object_new();
		g_autofree gchar *clean = fl_text_clean(note, -1, FL_TEXT_COLLAPSE_SPACE);

		json_object_set_string_member(event, "when", when);
		json_object_set_string_member(event, "kind", kind);
		json_object_set_string_member(event, "source", source);
		json_object_set_string_member(event, "note", clean);
		json_array_add_object_element(history, event);
	}
	return history;
}

/* `show @NAME`: the group and each member in one line, or as JSON with every member */
static gboolean
fl_cli_show_group(FlCli *cli, const gchar *name, GError **error)
{
	g_autoptr(GVariant) group = NULL;
	g_autoptr(GVariant) members = NULL;
	g_autoptr(JsonBuilder) builder = json_builder_new();
	FlDbusFlotilla1 *proxy = fl_cli_proxy(cli, error);
	const gchar *keys[] = {"name", "policy", "state", "paused", "winner", NULL};
	GVariantIter iter;
	guint32 id;

	if (proxy == NULL ||
	    !fl_dbus_flotilla1_call_get_group_sync(proxy, name, &group, NULL, error))
		return FALSE;
	members = g_variant_lookup_value(group, "members", G_VARIANT_TYPE("au"));
	if (cli->json) {
		g_autoptr(JsonNode) root = NULL;

		json_builder_begin_object(builder);
		for (guint i = 0; keys[i] != NULL; i++) {
			g_autoptr(GVariant) v = g_variant_lookup_value(group, keys[i], NULL);
			if (v == NULL)
				continue;
			json_builder_set_member_name(builder, keys[i]);
			fl_cli_json_add_value(builder, v);
		}
		json_builder_set_member_name(builder, "members");
		json_builder_begin_array(builder);
	} else {
		g_autofree gchar *clean = fl_text_clean(name, -1, FL_TEXT_COLLAPSE_SPACE);
		gint64 winner = 0;

		fprintf(stdout, "%s: @%s\n", _("group"), clean);
		fprintf(stdout, "%s: %s\n", _("policy"), fl_cli_dict_str(group, "policy"));
		fprintf(stdout, "%s: %s\n", _("state"), fl_cli_dict_str(group, "state"));
		if (fl_cli_dict_bool(group, "paused"))
			fprintf(stdout, "%s: %s\n", _("paused"), _("yes"));
		if (fl_cli_dict_int(group, "winner", &winner) && winner > 0)
			fprintf(stdout, "%s: #%u\n", _("winner"), (guint)winner);
		fprintf(stdout, "%s:\n", _("members"));
	}
	g_variant_iter_init(&iter, members);
	while (g_variant_iter_next(&iter, "u", &id)) {
		g_autoptr(GVariant) session = fl_cli_get_session(cli, id, error);
		g_autofree gchar *title = NULL;
		g_autofree gchar *repo = NULL;

		if (session == NULL)
			return FALSE;
		if (cli->json) {
			fl_cli_json_add_session(builder, session);
			continue;
		}
		title = fl_cli_session_title(session);
		repo = fl_text_clean(fl_cli_dict_str(session, "repo") != NULL
					     ? fl_cli_dict_str(session, "repo")
					     : "",
				     -1, FL_TEXT_COLLAPSE_SPACE);
		fprintf(stdout, "  %u\t%s\t%s\t%s\t%s\n", id, fl_cli_dict_str(session, "state"),
			fl_cli_dict_str(session, "review"), repo, title);
	}
	if (cli->json) {
		g_autoptr(JsonNode) root = NULL;

		json_builder_end_array(builder);
		json_builder_end_object(builder);
		root = json_builder_get_root(builder);
		fl_cli_print_json(root, TRUE);
	}
	return TRUE;
}

static gboolean
fl_cli_cmd_show(FlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GVariant) session = NULL;
	const gchar *group = NULL;
	guint id;

	if (args[1] != NULL && args[2] == NULL && fl_cli_group_arg(args[1], &group, error))
		return error == NULL || *error == NULL ? fl_cli_show_group(cli, group, error)
						       : FALSE;
	if (!fl_cli_args_id(cli, args, &id, error))
		return FALSE;
	session = fl_cli_get_session(cli, id, error);
	if (session == NULL)
		return FALSE;
	if (cli->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new();
		g_autoptr(JsonNode) root = NULL;
		fl_cli_json_add_session(builder, session);
		root = json_builder_get_root(builder);
		/* every decision on it, as `show` prints under "history:" */
		json_object_set_array_member(json_node_get_object(root), "history",
					     fl_cli_json_history(cli, id));
		fl_cli_print_json(root, TRUE);
		return TRUE;
	}
	fl_cli_print_session_fields(session);
	if (!fl_cli_state_is_final(fl_cli_dict_str(session, "state"))) {
		g_autofree gchar *now = fl_cli_last_activity(session, 200);
		if (now != NULL)
			fprintf(stdout, "%s: %s\n", _("now"), now);
	}
	fl_cli_print_history(cli, id);
	return TRUE;
}

/* ---- watching a session: log --follow, wait ---- */

typedef struct {
	FlCli *cli;
	guint id;
	gboolean print_log;
	GVariant *session;     /* (owned) (nullable) the latest props */
	gchar *state;          /* (owned) (nullable) */
	gchar *log_path;       /* (owned) (nullable) */
	GFileMonitor *monitor; /* (owned) (nullable) */
	GInputStream *log;     /* (owned) (nullable) open once the file exists */
	gchar *monitored;      /* (owned) (nullable) what the monitor watches */
	GError *error;         /* (owned) (nullable) ends the wait */
	gboolean finished;
	gboolean held_said; /* wait without a terminal said once why the queue holds it */
	gboolean lost;      /* flotillad went away: the session goes on, wait for the next one */

	/* the status line on stderr while we wait, when that is a terminal */
	guint progress_id;
	guint sigint_id;
	guint frame;
	gboolean shown;      /* a status line is on the terminal now */
	gboolean line_start; /* what we copied to stdout ended with a newline */
} FlCliWatch;

static void
fl_cli_watch_clear(FlCliWatch *watch)
{
	g_clear_handle_id(&watch->progress_id, g_source_remove);
	g_clear_handle_id(&watch->sigint_id, g_source_remove);
	if (watch->monitor != NULL)
		g_file_monitor_cancel(watch->monitor);
	g_clear_object(&watch->monitor);
	g_clear_object(&watch->log);
	g_clear_pointer(&watch->session, g_variant_unref);
	g_clear_pointer(&watch->state, g_free);
	g_clear_pointer(&watch->log_path, g_free);
	g_clear_pointer(&watch->monitored, g_free);
	g_clear_error(&watch->error);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(FlCliWatch, fl_cli_watch_clear)

static void
fl_cli_watch_fail(FlCliWatch *watch, GError *error)
{
	if (watch->error == NULL)
		watch->error = error;
	else
		g_error_free(error);
}

static void
fl_cli_progress_clear(FlCliWatch *watch)
{
	if (!watch->shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	watch->shown = FALSE;
}

/* "⠹ session 7: running · 1m05s · asks: which database?", one terminal line */
static gchar *
fl_cli_progress_text(FlCliWatch *watch)
{
	static const gchar *const frames_utf8[] = {"⠋", "⠙", "⠹", "⠸", "⠼",
						   "⠴", "⠦", "⠧", "⠇", "⠏"};
	static const gchar *const frames_ascii[] = {"|", "/", "-", "\\"};
	const gchar *charset = NULL;
	gboolean utf8 = g_get_charset(&charset);
	const gchar *frame = utf8 ? frames_utf8[watch->frame % G_N_ELEMENTS(frames_utf8)]
				  : frames_ascii[watch->frame % G_N_ELEMENTS(frames_ascii)];
	const gchar *since = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *head = NULL;
	GString *text = g_string_new(frame);
	gint64 seconds;

	state = fl_text_clean(fl_cli_state_label(watch->state), -1, FL_TEXT_COLLAPSE_SPACE);
	head = g_strdup_printf(_("session %u: %s"), watch->id, state);
	g_string_append_printf(text, " %s", head);
	if (watch->session != NULL) {
		since = fl_cli_dict_str(watch->session, "started");
		if (since == NULL)
			since = fl_cli_dict_str(watch->session, "created");
	}
	if (fl_cli_seconds_since(since, &seconds)) {
		g_autofree gchar *elapsed = fl_cli_format_duration(seconds);
		g_string_append_printf(text, " · %s", elapsed);
	}
	if (g_strcmp0(watch->state, "queued") == 0 && watch->session != NULL &&
	    fl_cli_dict_str(watch->session, "held") != NULL) {
		g_autofree gchar *held = fl_text_clean(fl_cli_dict_str(watch->session, "held"), -1,
						       FL_TEXT_COLLAPSE_SPACE);
		g_string_append_printf(text, " · %s: %s", _("held"), held);
	}
	if (g_strcmp0(watch->state, "blocked") == 0 && watch->session != NULL &&
	    fl_cli_dict_str(watch->session, "waiting_for") != NULL) {
		g_autofree gchar *asks = fl_text_clean(
			fl_cli_dict_str(watch->session, "waiting_for"), -1, FL_TEXT_COLLAPSE_SPACE);
		g_string_append_printf(text, " · %s: %s", _("asks"), asks);
	}
	return g_string_free(text, FALSE);
}

static void
fl_cli_progress_draw(FlCliWatch *watch)
{
	g_autofree gchar *text = NULL;
	g_autofree gchar *shown = NULL;

	if (watch->progress_id == 0 || watch->finished || watch->error != NULL)
		return;
	/* a partial line of output on the same terminal: \r would overwrite it */
	if (watch->cli->tty && !watch->line_start)
		return;
	text = fl_cli_progress_text(watch);
	/* one column short of the width: a wrapped line cannot be erased with \r */
	shown = fl_cli_ellipsize(text, fl_cli_terminal_columns(STDERR_FILENO) - 1);
	fprintf(stderr, "\r\033[K%s", shown);
	fflush(stderr);
	watch->shown = TRUE;
}

static gboolean
fl_cli_progress_tick_cb(gpointer user_data)
{
	FlCliWatch *watch = user_data;

	watch->frame++;
	fl_cli_progress_draw(watch);
	return G_SOURCE_CONTINUE;
}

static gboolean
fl_cli_progress_sigint_cb(gpointer user_data)
{
	FlCliWatch *watch = user_data;

	/* leave the terminal clean, then die of SIGINT as the shell expects (see main) */
	watch->cli->interrupted = TRUE;
	return G_SOURCE_CONTINUE;
}

/* copies what the log has gained to stdout, keeping the status line out of its way */
static void
fl_cli_watch_drain(FlCliWatch *watch)
{
	guint8 chunk[65536];

	if (watch->log == NULL || watch->error != NULL)
		return;
	for (;;) {
		GError *error = NULL;
		gssize n = g_input_stream_read(watch->log, chunk, sizeof chunk, NULL, &error);

		if (n < 0) {
			fl_cli_watch_fail(watch, error);
			return;
		}
		if (n == 0)
			break;
		fl_cli_progress_clear(watch);
		if (!fl_cli_write(chunk, (gsize)n, &error)) {
			fl_cli_watch_fail(watch, error);
			return;
		}
		watch->line_start = chunk[n - 1] == '\n';
	}
	fflush(stdout);
	fl_cli_progress_draw(watch);
}

static void
fl_cli_watch_log_changed_cb(GFileMonitor *monitor, GFile *file, GFile *other,
			    GFileMonitorEvent event, gpointer user_data);

/* watches @path (a directory with @directory) unless that is what we watch already */
static void
fl_cli_watch_monitor(FlCliWatch *watch, const gchar *path, gboolean directory)
{
	g_autoptr(GFile) file = g_file_new_for_path(path);
	g_autoptr(GError) error = NULL;

	if (g_strcmp0(watch->monitored, path) == 0)
		return;
	if (watch->monitor != NULL) {
		g_signal_handlers_disconnect_by_data(watch->monitor, watch);
		g_file_monitor_cancel(watch->monitor);
		g_clear_object(&watch->monitor);
	}
	g_free(watch->monitored);
	watch->monitored = g_strdup(path);
	watch->monitor = directory
				 ? g_file_monitor_directory(file, G_FILE_MONITOR_NONE, NULL, &error)
				 : g_file_monitor_file(file, G_FILE_MONITOR_NONE, NULL, &error);
	if (watch->monitor == NULL) {
		fl_cli_watch_fail(watch, g_steal_pointer(&error));
		return;
	}
	/* GIO's default coalesces changes for 800 ms; a followed log should feel live */
	g_file_monitor_set_rate_limit(watch->monitor, 100);
	g_signal_connect(watch->monitor, "changed", G_CALLBACK(fl_cli_watch_log_changed_cb), watch);
}

/*
 * Opens the log once it exists. Until then it watches the nearest directory on the way to it
 * that exists (the session's directory may not exist yet either: a monitor on a path below a
 * missing directory falls back to GLib's slow polling), moving down as directories appear.
 */
static void
fl_cli_watch_open_log(FlCliWatch *watch)
{
	if (!watch->print_log || watch->log != NULL || watch->log_path == NULL)
		return;
	while (watch->error == NULL) {
		g_autoptr(GFile) file = g_file_new_for_path(watch->log_path);
		g_autoptr(GFileInputStream) stream = NULL;
		g_autoptr(GError) error = NULL;
		g_autofree gchar *dir = NULL;

		stream = g_file_read(file, NULL, &error);
		if (stream != NULL) {
			watch->log = G_INPUT_STREAM(g_steal_pointer(&stream));
			fl_cli_watch_monitor(watch, watch->log_path, FALSE);
			return;
		}
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
			fl_cli_watch_fail(watch, g_steal_pointer(&error));
			return;
		}
		dir = g_path_get_dirname(watch->log_path);
		while (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
			gchar *parent = g_path_get_dirname(dir);
			gboolean top = g_strcmp0(parent, dir) == 0;
			g_free(dir);
			dir = parent;
			if (top)
				break;
		}
		if (g_strcmp0(watch->monitored, dir) == 0)
			return;
		/* and look once more: it may have appeared before the monitor was in place */
		fl_cli_watch_monitor(watch, dir, TRUE);
	}
}

static void
fl_cli_watch_log_changed_cb(GFileMonitor *monitor, GFile *file, GFile *other,
			    GFileMonitorEvent event, gpointer user_data)
{
	FlCliWatch *watch = user_data;

	fl_cli_watch_open_log(watch);
	fl_cli_watch_drain(watch);
}

/* takes what GetSession or SessionChanged said about the session */
static void
fl_cli_watch_apply(FlCliWatch *watch, const gchar *state, GVariant *props)
{
	const gchar *log_path = fl_cli_dict_str(props, "log_path");

	if (state == NULL)
		state = fl_cli_dict_str(props, "state");
	if (state != NULL) {
		g_free(watch->state);
		watch->state = g_strdup(state);
	}
	g_clear_pointer(&watch->session, g_variant_unref);
	watch->session = g_variant_ref(props);
	if (log_path != NULL && watch->log_path == NULL)
		watch->log_path = g_strdup(log_path);
	fl_cli_watch_open_log(watch);
	fl_cli_watch_drain(watch);
	if (fl_cli_state_is_final(watch->state))
		watch->finished = TRUE;
	/* no status line to show it in: a wait that may last until reviews are done says why */
	if (!watch->print_log && watch->progress_id == 0 && !watch->held_said &&
	    g_strcmp0(watch->state, "queued") == 0 && fl_cli_dict_str(props, "held") != NULL) {
		g_autofree gchar *held =
			fl_text_clean(fl_cli_dict_str(props, "held"), -1, FL_TEXT_COLLAPSE_SPACE);
		/* TRANSLATORS: e.g. "session 7 is queued; the queue is held: 5 drafts await…" */
		fprintf(stderr, _("session %u is queued; the queue is held: %s"), watch->id, held);
		fputc('\n', stderr);
		watch->held_said = TRUE;
	}
	fl_cli_progress_draw(watch);
}

static void
fl_cli_watch_refresh(FlCliWatch *watch)
{
	GError *error = NULL;
	g_autoptr(GVariant) session = fl_cli_get_session(watch->cli, watch->id, &error);

	if (session == NULL && fl_cli_error_is_lost_daemon(error)) {
		g_error_free(error);
		watch->lost = TRUE;
		return;
	}
	if (session == NULL) {
		fl_cli_watch_fail(watch, error);
		return;
	}
	fl_cli_watch_apply(watch, NULL, session);
}

static void
fl_cli_watch_session_changed_cb(FlDbusFlotilla1 *proxy, guint id, const gchar *state,
				GVariant *props, gpointer user_data)
{
	FlCliWatch *watch = user_data;

	if (id == watch->id)
		fl_cli_watch_apply(watch, state, props);
}

static void
fl_cli_watch_owner_cb(GObject *object, GParamSpec *pspec, gpointer user_data)
{
	FlCliWatch *watch = user_data;
	g_autofree gchar *owner = g_dbus_proxy_get_name_owner(G_DBUS_PROXY(object));

	if (owner == NULL) {
		/* its sessions run on without it: the wait goes on with the next daemon */
		watch->lost = TRUE;
		return;
	}
	/* replaced (flotillad --replace): signals from the old one may be lost, ask the new one */
	fl_cli_watch_refresh(watch);
}

/*
 * flotillad went away (killed, restarted, replaced): started again as any call starts it,
 * within the same deadline, it tells how the session went on; no daemon by then is an error
 */
static void
fl_cli_watch_reconnect(FlCliWatch *watch)
{
	GError *error = NULL;

	watch->lost = FALSE;
	if (!fl_cli_start_daemon(watch->cli, &error)) {
		g_autofree gchar *text = fl_error_render(error);
		g_autofree gchar *message = fl_text_clean(text, -1, FL_TEXT_COLLAPSE_SPACE);

		fl_cli_watch_fail(watch, g_error_new(FL_CLI_ERROR, FL_CLI_ERROR_UNREACHABLE,
						     _("cannot reach flotillad: %s"), message));
		g_error_free(error);
		return;
	}
	fl_cli_watch_refresh(watch);
}

static void
fl_cli_watch_closed_cb(GDBusConnection *connection, gboolean remote_peer_vanished, GError *error,
		       gpointer user_data)
{
	FlCliWatch *watch = user_data;

	fl_cli_watch_fail(
		watch, g_error_new_literal(FL_CLI_ERROR, FL_CLI_ERROR_UNREACHABLE,
					   _("cannot reach flotillad: the session bus went away")));
}

/*
 * Until session @id is no longer queued, running or blocked (or wait --timeout runs out),
 * following its output.log on stdout with @print_log. Sets the exit status: 0 when it ended
 * done and its verify did not fail, 1 otherwise.
 */
static gboolean
fl_cli_watch_session(FlCli *cli, guint id, gboolean print_log, FlCliWatch *watch, GError **error)
{
	FlDbusFlotilla1 *proxy = fl_cli_proxy(cli, error);
	gulong changed_id;
	gulong owner_id;
	gulong closed_id;

	if (proxy == NULL)
		return FALSE;
	watch->cli = cli;
	watch->id = id;
	watch->print_log = print_log;
	watch->line_start = TRUE;
	if (cli->progress) {
		watch->progress_id =
			g_timeout_add(FL_CLI_PROGRESS_MS, fl_cli_progress_tick_cb, watch);
		watch->sigint_id = g_unix_signal_add(SIGINT, fl_cli_progress_sigint_cb, watch);
	}
	/* subscribe first, then ask: a change between the two is never missed */
	changed_id = g_signal_connect(proxy, "session-changed",
				      G_CALLBACK(fl_cli_watch_session_changed_cb), watch);
	owner_id = g_signal_connect(proxy, "notify::g-name-owner",
				    G_CALLBACK(fl_cli_watch_owner_cb), watch);
	closed_id = g_signal_connect(cli->connection, "closed", G_CALLBACK(fl_cli_watch_closed_cb),
				     watch);
	fl_cli_watch_refresh(watch);
	while (!watch->finished && watch->error == NULL && !cli->interrupted && !cli->timed_out) {
		if (watch->lost) {
			fl_cli_watch_reconnect(watch);
			continue;
		}
		g_main_context_iteration(NULL, TRUE);
	}
	g_clear_handle_id(&watch->progress_id, g_source_remove);
	g_clear_handle_id(&watch->sigint_id, g_source_remove);
	fl_cli_progress_clear(watch);
	g_signal_handler_disconnect(proxy, changed_id);
	g_signal_handler_disconnect(proxy, owner_id);
	g_signal_handler_disconnect(cli->connection, closed_id);
	if (watch->monitor != NULL)
		g_signal_handlers_disconnect_by_data(watch->monitor, watch);

	if (cli->interrupted || (cli->timed_out && !watch->finished)) {
		cli->status = FL_CLI_EXIT_FAILED;
		return TRUE;
	}
	if (watch->error == NULL && print_log) {
		/* the runner has exited: what it wrote is all there is */
		fl_cli_watch_open_log(watch);
		fl_cli_watch_drain(watch);
	}
	if (watch->error != NULL) {
		g_propagate_error(error, g_steal_pointer(&watch->error));
		return FALSE;
	}
	/* a draft whose verify failed is no success: `wait 3 && approve 3` must not merge it */
	cli->status = g_strcmp0(watch->state, "done") == 0 &&
				      fl_cli_dict_verify(watch->session) != FL_VERIFY_FAIL
			      ? FL_CLI_EXIT_OK
			      : FL_CLI_EXIT_FAILED;
	return TRUE;
}

/* "session 7: done", "session 7: failed (exit 1)" */
static gchar *
fl_cli_watch_outcome(FlCliWatch *watch)
{
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *state =
		fl_text_clean(fl_cli_state_label(watch->state), -1, FL_TEXT_COLLAPSE_SPACE);
	g_autofree gchar *detail = NULL;

	if (watch->session != NULL)
		fl_cli_add_exit(parts, watch->session);
	if (watch->session != NULL && fl_cli_dict_verify(watch->session) == FL_VERIFY_FAIL)
		g_ptr_array_add(parts, g_strdup(_("verify failed")));
	if (parts->len == 0)
		return g_strdup_printf(_("session %u: %s"), watch->id, state);
	g_ptr_array_add(parts, NULL);
	detail = g_strjoinv(", ", (gchar **)parts->pdata);
	/* TRANSLATORS: e.g. "session 7: failed (exit 1)" */
	return g_strdup_printf(_("session %u: %s (%s)"), watch->id, state, detail);
}

/* ---- log, diff ---- */

static void
fl_cli_options_log(FlCli *cli, GOptionContext *context)
{
	const GOptionEntry entries[] = {{"follow", 'f', 0, G_OPTION_ARG_NONE, &cli->follow,
					 N_("Keep printing the output until the session ends"),
					 NULL},
					{NULL}};
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
}

static gboolean
fl_cli_cmd_log(FlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GVariant) session = NULL;
	const gchar *path;
	guint id;

	if (!fl_cli_args_id(cli, args, &id, error))
		return FALSE;
	if (cli->follow) {
		g_auto(FlCliWatch) watch = {NULL};
		g_autofree gchar *outcome = NULL;

		if (!fl_cli_watch_session(cli, id, TRUE, &watch, error))
			return FALSE;
		/* stdout carries the log alone; at a terminal, say how it ended on stderr */
		if (cli->progress && !cli->interrupted) {
			outcome = fl_cli_watch_outcome(&watch);
			fprintf(stderr, "%s%s\n", watch.line_start ? "" : "\n", outcome);
		}
		return TRUE;
	}
	session = fl_cli_get_session(cli, id, error);
	if (session == NULL)
		return FALSE;
	path = fl_cli_dict_str(session, "log_path");
	if (path == NULL || !g_file_test(path, G_FILE_TEST_EXISTS)) {
		/* a queued session has not said anything yet */
		if (g_strcmp0(fl_cli_dict_str(session, "state"), "queued") == 0)
			return TRUE;
		if (fl_cli_dict_str(session, "cleaned") != NULL)
			g_set_error(error, FL_ERROR, FL_ERROR_FAILED,
				    _("session %u was cleaned: its log is gone"), id);
		else
			g_set_error(error, FL_ERROR, FL_ERROR_FAILED,
				    _("session %u has no output log"), id);
		return FALSE;
	}
	return fl_cli_copy_file(path, error);
}

static const gchar *
fl_cli_patch_path(GVariant *session, guint id, GError **error)
{
	const gchar *path = fl_cli_dict_str(session, "patch_path");

	if (path == NULL)
		g_set_error(error, FL_ERROR, FL_ERROR_FAILED, _("session %u has no draft"), id);
	return path;
}

static gboolean
fl_cli_cmd_diff(FlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GVariant) session = NULL;
	const gchar *path;
	guint id;

	if (!fl_cli_args_id(cli, args, &id, error))
		return FALSE;
	session = fl_cli_get_session(cli, id, error);
	if (session == NULL)
		return FALSE;
	path = fl_cli_patch_path(session, id, error);
	if (path == NULL)
		return FALSE;
	return fl_cli_copy_file(path, error);
}

/* ---- approve, reject, revert, cancel, reply ---- */

typedef gboolean (*FlCliDecideFunc)(FlDbusFlotilla1 *proxy, guint id, GVariant *options,
				    gchar **message, GCancellable *cancellable, GError **error);

static void
fl_cli_options_pause(FlCli *cli, GOptionContext *context)
{
	const GOptionEntry entries[] = {{"group", 0, 0, G_OPTION_ARG_FILENAME, &cli->group,
					 N_("Only this group's queued sessions"), N_("NAME")},
					{NULL}};
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
}

static void
fl_cli_options_note(FlCli *cli, GOptionContext *context)
{
	const GOptionEntry entries[] = {{"note", 0, 0, G_OPTION_ARG_FILENAME, &cli->note,
					 N_("Note recorded with the decision"), N_("TEXT")},
					{NULL}};
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
}

/* calls @func with {note, source: "cli"} and prints its message */
static gboolean
fl_cli_decide(FlCli *cli, FlCliDecideFunc func, guint id, const gchar *note, GError **error)
{
	g_autofree gchar *message = NULL;
	g_autofree gchar *clean = NULL;
	g_autoptr(GVariant) options = NULL;
	FlDbusFlotilla1 *proxy = fl_cli_proxy(cli, error);
	GVariantBuilder builder;
	guint attempts = 0;
	gboolean ok;

	if (proxy == NULL)
		return FALSE;
	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	if (note != NULL)
		g_variant_builder_add(&builder, "{sv}", "note", g_variant_new_string(note));
	g_variant_builder_add(&builder, "{sv}", "source", g_variant_new_string("cli"));
	/* one token per decision: `review` decides several in one invocation */
	g_variant_builder_add(&builder, "{sv}", "token",
			      g_variant_new_take_string(g_uuid_string_random()));
	options = g_variant_ref_sink(g_variant_builder_end(&builder));
	fl_cli_set_timeout(cli, FL_CLI_GIT_TIMEOUT_MS);
	while (!(ok = func(proxy, id, options, &message, NULL, error)) &&
	       fl_cli_retry_lost(cli, error, &attempts)) {
		proxy = cli->proxy;
		fl_cli_set_timeout(cli, FL_CLI_GIT_TIMEOUT_MS);
	}
	fl_cli_set_timeout(cli, FL_CLI_CALL_TIMEOUT_MS);
	if (!ok)
		return FALSE;
	clean = fl_text_clean(message, -1, FL_TEXT_MULTILINE);
	if (clean[0] != '\0')
		fprintf(stdout, "%s\n", clean);
	return TRUE;
}

/*
 * "CMD ID [ID…]": decides each in the order given, so `approve 4 7 9` lands 4 first. Every id
 * is checked before anything is decided; a refusal (a later draft that no longer merges)
 * leaves that one as it is, says why, and does not undo or stop the others.
 */
/* `approve @NAME`, `reject @NAME`: the whole group as one decision */
static gboolean
fl_cli_decide_group(FlCli *cli, const gchar *name, const gchar *decision, GError **error)
{
	g_autofree gchar *message = NULL;
	g_autofree gchar *clean = NULL;
	GVariantBuilder builder;
	FlDbusFlotilla1 *proxy;
	gboolean ok;

	if (!fl_cli_check_utf8_option("note", cli->note, error))
		return FALSE;
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	if (cli->note != NULL)
		g_variant_builder_add(&builder, "{sv}", "note", g_variant_new_string(cli->note));
	g_variant_builder_add(&builder, "{sv}", "source", g_variant_new_string("cli"));
	/* every member's merge, one after another */
	fl_cli_set_timeout(cli, FL_CLI_GIT_TIMEOUT_MS * 4);
	ok = fl_dbus_flotilla1_call_decide_group_sync(
		proxy, name, decision, g_variant_builder_end(&builder), &message, NULL, error);
	fl_cli_set_timeout(cli, FL_CLI_CALL_TIMEOUT_MS);
	if (!ok)
		return FALSE;
	clean = fl_text_clean(message, -1, FL_TEXT_MULTILINE);
	fprintf(stdout, "%s\n", clean);
	return TRUE;
}

static gboolean
fl_cli_cmd_decide(FlCli *cli, gchar **args, FlCliDecideFunc func, GError **error)
{
	g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(guint));
	g_autoptr(GError) first = NULL;
	guint refused = 0;
	const gchar *group = NULL;

	if (args[1] == NULL)
		return fl_cli_usage_error(error, _("'%s' needs a session id"), args[0]);
	for (guint i = 1; args[i] != NULL; i++) {
		if (!fl_cli_group_arg(args[i], &group, error))
			continue;
		if (error != NULL && *error != NULL)
			return FALSE;
		if (func == fl_dbus_flotilla1_call_revert_sync)
			return fl_cli_usage_error(error, _("a group is reverted member by member: "
							   "give their ids"));
		if (i != 1 || args[2] != NULL)
			return fl_cli_usage_error(error, _("a group is decided on its own: give "
							   "@NAME alone"));
		return fl_cli_decide_group(
			cli, group,
			func == fl_dbus_flotilla1_call_approve_sync ? "approve" : "reject", error);
	}
	for (guint i = 1; args[i] != NULL; i++) {
		guint id;

		if (!fl_cli_resolve_id(cli, args[i], &id, error))
			return FALSE;
		g_array_append_val(ids, id);
	}
	if (!fl_cli_check_utf8_option("note", cli->note, error))
		return FALSE;
	if (ids->len == 1)
		return fl_cli_decide(cli, func, g_array_index(ids, guint, 0), cli->note, error);
	for (guint i = 0; i < ids->len; i++) {
		g_autoptr(GError) error_local = NULL;
		guint id = g_array_index(ids, guint, i);

		if (fl_cli_decide(cli, func, id, cli->note, &error_local))
			continue;
		/* no daemon: nothing after this one can be decided either */
		if (fl_cli_exit_status(error_local) == FL_CLI_EXIT_UNREACHABLE) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		refused++;
		fl_cli_report_error(error_local);
		if (first == NULL)
			first = g_steal_pointer(&error_local);
	}
	if (first != NULL) {
		/* the exit status of the first refusal, with a line that counts them all */
		g_set_error(error, first->domain, first->code,
			    g_dngettext(GETTEXT_PACKAGE, "%u of %u sessions was not decided",
					"%u of %u sessions were not decided", refused),
			    refused, ids->len);
		return FALSE;
	}
	return TRUE;
}

static gboolean
fl_cli_cmd_approve(FlCli *cli, gchar **args, GError **error)
{
	return fl_cli_cmd_decide(cli, args, fl_dbus_flotilla1_call_approve_sync, error);
}

static gboolean
fl_cli_cmd_reject(FlCli *cli, gchar **args, GError **error)
{
	return fl_cli_cmd_decide(cli, args, fl_dbus_flotilla1_call_reject_sync, error);
}

static gboolean
fl_cli_cmd_revert(FlCli *cli, gchar **args, GError **error)
{
	return fl_cli_cmd_decide(cli, args, fl_dbus_flotilla1_call_revert_sync, error);
}

/*
 * `refresh ID…`: each draft replayed onto its base branch's tip and verified again, in the
 * order given. A draft that refreshed but whose verify now fails exits 1 like `wait` does, so
 * `refresh 3 && approve 3` never merges it.
 */
static gboolean
fl_cli_cmd_refresh(FlCli *cli, gchar **args, GError **error)
{
	if (!fl_cli_cmd_decide(cli, args, fl_dbus_flotilla1_call_refresh_sync, error))
		return FALSE;
	for (guint i = 1; args[i] != NULL; i++) {
		g_autoptr(GVariant) session = NULL;
		guint id;

		if (!fl_cli_resolve_id(cli, args[i], &id, error))
			return FALSE;
		session = fl_cli_get_session(cli, id, error);
		if (session == NULL)
			return FALSE;
		if (fl_cli_dict_verify(session) == FL_VERIFY_FAIL ||
		    fl_cli_dict_verify(session) == FL_VERIFY_TIMEOUT)
			cli->status = FL_CLI_EXIT_FAILED;
	}
	return TRUE;
}

static gboolean
fl_cli_cmd_cancel(FlCli *cli, gchar **args, GError **error)
{
	FlDbusFlotilla1 *proxy;
	guint id;

	if (!fl_cli_args_id(cli, args, &id, error))
		return FALSE;
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	if (!fl_dbus_flotilla1_call_cancel_sync(proxy, id, NULL, error))
		return FALSE;
	fprintf(stdout, _("Session %u cancelled."), id);
	fputc('\n', stdout);
	return TRUE;
}

static gboolean
fl_cli_cmd_dismiss(FlCli *cli, gchar **args, GError **error)
{
	FlDbusFlotilla1 *proxy;
	guint id;

	if (!fl_cli_args_id(cli, args, &id, error))
		return FALSE;
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	if (!fl_dbus_flotilla1_call_dismiss_sync(proxy, id, NULL, error))
		return FALSE;
	fprintf(stdout, _("Session %u dismissed: it leaves the review and the check-ins."), id);
	fputc('\n', stdout);
	return TRUE;
}

static gboolean
fl_cli_cmd_reply(FlCli *cli, gchar **args, GError **error)
{
	g_autofree gchar *text = NULL;
	FlDbusFlotilla1 *proxy;
	guint id;

	if (args[1] == NULL)
		return fl_cli_usage_error(error, _("'%s' needs a session id"), args[0]);
	if (!fl_cli_resolve_id(cli, args[1], &id, error))
		return FALSE;
	text = fl_cli_args_text(args + 1);
	if (!fl_cli_check_text(_("reply"), text, strlen(text), error))
		return FALSE;
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	if (!fl_dbus_flotilla1_call_reply_sync(proxy, id, text, NULL, error))
		return FALSE;
	fprintf(stdout, _("Replied to session %u."), id);
	fputc('\n', stdout);
	return TRUE;
}

/* ---- status, checkin ---- */

static gchar *
fl_cli_format_next_checkin(const gchar *iso)
{
	g_autoptr(GDateTime) when = fl_cli_parse_time(iso);
	g_autoptr(GDateTime) local = NULL;
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree gchar *shown = NULL;
	g_autofree gchar *in = NULL;

	if (when == NULL)
		return fl_text_clean(iso, -1, FL_TEXT_COLLAPSE_SPACE);
	local = g_date_time_to_local(when);
	shown = g_date_time_format(local, "%Y-%m-%d %H:%M");
	in = fl_cli_format_duration(g_date_time_difference(local, now) / G_TIME_SPAN_SECOND);
	/* TRANSLATORS: when the next check-in is, e.g. "2025-11-26 15:00 (in 2h05m)" */
	return g_strdup_printf(_("%s (in %s)"), shown, in);
}

/* "running 1/4", or "running 1" without a maximum */
static gchar *
fl_cli_format_count(GVariant *status, const gchar *label, const gchar *key, const gchar *max_key)
{
	gint64 count = 0;
	gint64 max = 0;

	fl_cli_dict_int(status, key, &count);
	if (max_key != NULL && fl_cli_dict_int(status, max_key, &max) && max > 0)
		return g_strdup_printf("%s %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT, label, count,
				       max);
	return g_strdup_printf("%s %" G_GINT64_FORMAT, label, count);
}

/* after the fleet's line, one per [cluster NAME] */
static void
fl_cli_print_clusters(GVariant *status)
{
	g_autoptr(GVariant) clusters =
		g_variant_lookup_value(status, "clusters", G_VARIANT_TYPE("aa{sv}"));

	for (gsize i = 0; clusters != NULL && i < g_variant_n_children(clusters); i++) {
		g_autoptr(GVariant) cluster = g_variant_get_child_value(clusters, i);
		g_autofree gchar *name = NULL;
		g_autofree gchar *text = NULL;
		gboolean reachable = FALSE;
		guint32 running = 0;
		const gchar *what;

		g_variant_lookup(cluster, "reachable", "b", &reachable);
		g_variant_lookup(cluster, "running", "u", &running);
		name = fl_text_clean(fl_cli_dict_str(cluster, "name") != NULL
					     ? fl_cli_dict_str(cluster, "name")
					     : "?",
				     -1, FL_TEXT_COLLAPSE_SPACE);
		text = fl_text_clean(fl_cli_dict_str(cluster, "status") != NULL
					     ? fl_cli_dict_str(cluster, "status")
					     : "",
				     -1, FL_TEXT_COLLAPSE_SPACE);
		/* TRANSLATORS: "cluster lab: reachable · up, 1 node idle · 2 sessions there" */
		what = reachable ? _("reachable") : _("unreachable");
		fprintf(stdout, _("cluster %s: %s · %s · "), name, what, text);
		fprintf(stdout,
			g_dngettext(GETTEXT_PACKAGE, "%u session there", "%u sessions there",
				    running),
			running);
		fputc('\n', stdout);
	}
}

/* the confinement in force, and when sessions cannot start, why and what to do */
static void
fl_cli_print_confinement(GVariant *status)
{
	const gchar *confinement = fl_cli_dict_str(status, "confinement");
	const gchar *why = fl_cli_dict_str(status, "confinement_error");

	if (g_strcmp0(confinement, "bwrap") == 0) {
		fputs(_("confinement: bubblewrap (see README: what a session can touch)"), stdout);
	} else if (g_strcmp0(confinement, "off") == 0) {
		fputs(_("confinement: OFF ([fleet] confinement=off): sessions run as you, "
			"unconfined"),
		      stdout);
	} else if (confinement != NULL) {
		g_autofree gchar *reason =
			fl_text_clean(why != NULL ? why : "?", -1, FL_TEXT_COLLAPSE_SPACE);
		fprintf(stdout, _("confinement: unavailable, no session can start: %s"), reason);
	} else {
		return;
	}
	fputc('\n', stdout);
}

static gboolean
fl_cli_cmd_status(FlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GVariant) status = NULL;
	g_autofree gchar *running = NULL;
	g_autofree gchar *queued = NULL;
	g_autofree gchar *blocked = NULL;
	g_autofree gchar *drafts = NULL;
	g_autofree gchar *version = NULL;
	FlDbusFlotilla1 *proxy;
	const gchar *held;
	const gchar *next;

	if (!fl_cli_args_none(args, error))
		return FALSE;
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	if (!fl_dbus_flotilla1_call_get_status_sync(proxy, &status, NULL, error))
		return FALSE;
	if (cli->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new();
		g_autoptr(JsonNode) root = NULL;
		fl_cli_json_add_dict(builder, status, fl_cli_status_keys);
		root = json_builder_get_root(builder);
		fl_cli_print_json(root, TRUE);
		return TRUE;
	}
	version = fl_text_clean(fl_cli_dict_str(status, "version") != NULL
					? fl_cli_dict_str(status, "version")
					: "?",
				-1, FL_TEXT_COLLAPSE_SPACE);
	running = fl_cli_format_count(status, _("running"), "running", "max_parallel");
	queued = fl_cli_format_count(status, _("queued"), "queued", NULL);
	blocked = fl_cli_format_count(status, _("blocked"), "blocked", NULL);
	drafts = fl_cli_format_count(status, _("drafts"), "unreviewed", "max_unreviewed");
	fprintf(stdout, "flotillad %s · %s · %s · %s · %s\n", version, running, queued, blocked,
		drafts);
	held = fl_cli_dict_str(status, "held");
	if (held != NULL) {
		g_autofree gchar *reason = fl_text_clean(held, -1, FL_TEXT_COLLAPSE_SPACE);
		fprintf(stdout, _("Queue held: %s"), reason);
		fputc('\n', stdout);
	} else if (fl_cli_dict_bool(status, "paused")) {
		/* nothing queued to hold, but what is queued next will wait */
		fputs(_("Queue paused; 'flotilla resume' starts it again"), stdout);
		fputc('\n', stdout);
	}
	{
		gdouble budget = 0;
		gdouble spent = 0;

		if (fl_cli_dict_double(status, "daily_budget", &budget) &&
		    fl_cli_dict_double(status, "spent_today", &spent)) {
			g_autofree gchar *a = fl_cli_format_cost(spent);
			g_autofree gchar *b = fl_cli_format_cost(budget);
			/* TRANSLATORS: e.g. "Spent today: $3.20 of daily-budget $20.00" */
			fprintf(stdout, _("Spent today: %s of daily-budget %s"), a, b);
			fputc('\n', stdout);
		}
	}
	if (fl_cli_dict_str(status, "store_error") != NULL) {
		/* the daemon keeps what it could not save and tries again: say so */
		g_autofree gchar *line = fl_text_clean(fl_cli_dict_str(status, "store_error"), -1,
						       FL_TEXT_COLLAPSE_SPACE);
		fprintf(stdout, _("Not saved yet: %s"), line);
		fputc('\n', stdout);
	}
	next = fl_cli_dict_str(status, "next_checkin");
	if (next != NULL) {
		g_autofree gchar *when = fl_cli_format_next_checkin(next);
		fprintf(stdout, _("next check-in: %s"), when);
		fputc('\n', stdout);
	}
	fl_cli_print_clusters(status);
	fl_cli_print_confinement(status);
	return TRUE;
}

static void
fl_cli_options_checkin(FlCli *cli, GOptionContext *context)
{
	const GOptionEntry entries[] = {{"now", 0, 0, G_OPTION_ARG_NONE, &cli->now,
					 N_("Deliver the digest as a notification now"), NULL},
					{"preview", 0, 0, G_OPTION_ARG_NONE, &cli->preview,
					 N_("Only show what the digest would contain"), NULL},
					{NULL}};
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
}

static gboolean
fl_cli_cmd_checkin(FlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GVariant) options = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *clean = NULL;
	FlDbusFlotilla1 *proxy;
	GVariantBuilder builder;

	if (!fl_cli_args_none(args, error))
		return FALSE;
	if (cli->now && cli->preview)
		return fl_cli_usage_error(error, _("--now and --preview exclude each other"));
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&builder, "{sv}", "deliver", g_variant_new_boolean(cli->now));
	options = g_variant_ref_sink(g_variant_builder_end(&builder));
	if (!fl_dbus_flotilla1_call_checkin_sync(proxy, options, &text, NULL, error))
		return FALSE;
	clean = fl_text_clean(text, -1, FL_TEXT_MULTILINE);
	fprintf(stdout, "%s\n", clean[0] != '\0' ? clean : _("Nothing to check in."));
	return TRUE;
}

/* ---- review ---- */

static void
fl_cli_append_item_field(GString *out, const gchar *label, const gchar *value)
{
	g_autofree gchar *clean = NULL;

	if (value == NULL)
		return;
	clean = fl_text_clean(value, -1, FL_TEXT_MULTILINE);
	fl_cli_append_field(out, "  ", label, clean);
}

/* "#4 (pending), #5 (approved)": a group's members, NULL when it cannot be read */
static gchar *
fl_cli_group_members(FlCli *cli, const gchar *name)
{
	g_autoptr(GVariant) group = NULL;
	g_autoptr(GVariant) members = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	FlDbusFlotilla1 *proxy = fl_cli_proxy(cli, NULL);
	GVariantIter iter;
	guint32 id;

	if (proxy == NULL ||
	    !fl_dbus_flotilla1_call_get_group_sync(proxy, name, &group, NULL, NULL))
		return NULL;
	members = g_variant_lookup_value(group, "members", G_VARIANT_TYPE("au"));
	if (members == NULL)
		return NULL;
	g_variant_iter_init(&iter, members);
	while (g_variant_iter_next(&iter, "u", &id)) {
		g_autoptr(GVariant) session = fl_cli_get_session(cli, id, NULL);
		const gchar *review = session != NULL ? fl_cli_dict_str(session, "review") : NULL;
		g_string_append_printf(out, "%s#%u (%s)", out->len > 0 ? ", " : "", id,
				       fl_cli_review_label(review != NULL ? review : "none"));
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static void
fl_cli_print_review_item(FlCli *cli, GVariant *item, guint index, guint count)
{
	GString *out = g_string_new(NULL);
	g_autofree gchar *title = fl_cli_session_title(item);
	g_autofree gchar *head = NULL;
	g_autofree gchar *styled = NULL;
	g_autofree gchar *repo = NULL;
	g_autofree gchar *verify = fl_cli_session_verify_mark(item);
	g_autofree gchar *state = NULL;
	const gchar *base = fl_cli_dict_str(item, "base");
	gdouble cost;

	/* TRANSLATORS: heads one review item: id, position, name or goal */
	head = g_strdup_printf(_("#%u (%u of %u): %s"), fl_cli_dict_id(item), index, count, title);
	styled = fl_cli_style(cli, FL_CLI_BOLD, head);
	g_string_append_printf(out, "%s\n", styled);
	if (fl_cli_dict_str(item, "name") != NULL)
		fl_cli_append_item_field(out, _("goal"), fl_cli_dict_str(item, "goal"));
	if (fl_cli_dict_str(item, "group") != NULL &&
	    g_strcmp0(fl_cli_dict_str(item, "review"), "pending") == 0) {
		g_autofree gchar *members =
			fl_cli_group_members(cli, fl_cli_dict_str(item, "group"));
		if (members != NULL)
			/* TRANSLATORS: a group's drafts, decided together in the review */
			fl_cli_append_item_field(out, _("with"), members);
	}
	if (fl_cli_dict_str(item, "repo") != NULL && base != NULL)
		repo = g_strdup_printf(_("%s (base %s)"), fl_cli_dict_str(item, "repo"), base);
	else
		repo = g_strdup(fl_cli_dict_str(item, "repo"));
	fl_cli_append_item_field(out, _("repo"), repo);
	if (fl_cli_dict_str(item, "state") != NULL) {
		const gchar *review = fl_cli_dict_str(item, "review");
		state = g_strdup_printf("%s · %s",
					fl_cli_state_label(fl_cli_dict_str(item, "state")),
					fl_cli_review_label(review != NULL ? review : "none"));
		fl_cli_append_item_field(out, _("state"), state);
	}
	if (verify != NULL) {
		g_autofree gchar *mark = g_strdup(verify);
		if (cli->color) {
			g_free(mark);
			mark = fl_cli_style(cli,
					    fl_cli_dict_verify(item) == FL_VERIFY_PASS
						    ? FL_CLI_GREEN
						    : FL_CLI_RED,
					    verify);
		}
		g_string_append_printf(out, "  %s\n", mark);
	}
	fl_cli_append_item_field(out, _("diffstat"), fl_cli_dict_str(item, "diffstat"));
	/* TRANSLATORS: symbolic links a draft adds that point out of the repository */
	fl_cli_append_item_field(out, _("links outside the repository"),
				 fl_cli_dict_str(item, "links_outside"));
	if (fl_cli_dict_double(item, "cost_usd", &cost)) {
		g_autofree gchar *shown = fl_cli_format_cost(cost);
		fl_cli_append_item_field(out, _("cost"), shown);
	}
	fl_cli_append_item_field(out, _("asks"), fl_cli_dict_str(item, "waiting_for"));
	fl_cli_append_item_field(out, _("reason"), fl_cli_dict_str(item, "reason"));
	fputs(out->str, stdout);
	g_string_free(out, TRUE);
}

/* through $PAGER (default less) when stdout is a terminal, else plain */
static gboolean
fl_cli_page_file(const gchar *path, GError **error)
{
	const gchar *pager = g_getenv("PAGER");
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) process = NULL;
	g_auto(GStrv) argv = NULL;

	if (!isatty(STDOUT_FILENO))
		return fl_cli_copy_file(path, error);
	if (pager == NULL || pager[0] == '\0')
		pager = "less";
	if (!g_shell_parse_argv(pager, NULL, &argv, NULL))
		return fl_cli_copy_file(path, error);
	fflush(stdout);
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
	g_subprocess_launcher_set_stdin_file_path(launcher, path);
	/* like git: quit when the patch fits the screen, keep colours, leave the text there */
	if (g_getenv("LESS") == NULL)
		g_subprocess_launcher_setenv(launcher, "LESS", "FRX", TRUE);
	process = g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv, NULL);
	if (process == NULL)
		return fl_cli_copy_file(path, error);
	return g_subprocess_wait(process, NULL, error);
}

typedef enum {
	FL_CLI_REVIEW_NEXT,
	FL_CLI_REVIEW_QUIT,
	FL_CLI_REVIEW_ERROR,
	FL_CLI_REVIEW_AGAIN, /* ask the same item again */
} FlCliReviewStep;

/* what an item of the review asks of the user, and so which answers its prompt offers */
typedef enum {
	FL_CLI_REVIEW_KIND_DRAFT,
	FL_CLI_REVIEW_KIND_FAILED,
	FL_CLI_REVIEW_KIND_PERMISSION,
	FL_CLI_REVIEW_KIND_QUESTION,
} FlCliReviewKind;

static FlCliReviewKind
fl_cli_review_kind(GVariant *item)
{
	const gchar *state = fl_cli_dict_str(item, "state");

	if (g_strcmp0(state, "blocked") == 0)
		return fl_cli_dict_bool(item, "permission") ? FL_CLI_REVIEW_KIND_PERMISSION
							    : FL_CLI_REVIEW_KIND_QUESTION;
	if (g_strcmp0(fl_cli_dict_str(item, "review"), "pending") == 0)
		return FL_CLI_REVIEW_KIND_DRAFT;
	return FL_CLI_REVIEW_KIND_FAILED;
}

/* one line of input, stripped; NULL at the end of input */
static gchar *
fl_cli_read_line(GDataInputStream *input, const gchar *prompt, GError **error)
{
	g_autofree gchar *line = NULL;

	fputs(prompt, stdout);
	fflush(stdout);
	line = g_data_input_stream_read_line_utf8(input, NULL, NULL, error);
	if (line == NULL)
		return NULL;
	return g_strdup(g_strstrip(line));
}

/* one answer, lower-cased; NULL at the end of input */
static gchar *
fl_cli_prompt(GDataInputStream *input, FlCliReviewKind kind, GError **error)
{
	const gchar *prompt;
	g_autofree gchar *line = NULL;

	switch (kind) {
	case FL_CLI_REVIEW_KIND_FAILED:
		/* TRANSLATORS: the letters in brackets are the answers read back, keep them */
		prompt = _("re[t]ry dismiss [x] [l]og [s]kip [q]uit? ");
		break;
	case FL_CLI_REVIEW_KIND_PERMISSION:
		/* TRANSLATORS: the letters in brackets are the answers read back, keep them */
		prompt = _("[y]es allow [n]o deny [t]ype a reply [s]kip [q]uit? ");
		break;
	case FL_CLI_REVIEW_KIND_QUESTION:
		/* TRANSLATORS: the letters in brackets are the answers read back, keep them */
		prompt = _("[t]ype a reply [s]kip [q]uit? ");
		break;
	case FL_CLI_REVIEW_KIND_DRAFT:
	default:
		/* TRANSLATORS: the letters in brackets are the answers read back, keep them */
		prompt = _("[a]pprove [r]eject [d]iff [s]kip [q]uit? ");
		break;
	}
	line = fl_cli_read_line(input, prompt, error);
	if (line == NULL)
		return NULL;
	return g_ascii_strdown(line, -1);
}

/* FALSE only when the daemon is gone; other failures are reported and the walk goes on */
static gboolean
fl_cli_review_outcome(gboolean ok, GError *error_local, GError **error)
{
	if (ok)
		return TRUE;
	if (fl_cli_exit_status(error_local) == FL_CLI_EXIT_UNREACHABLE) {
		g_propagate_error(error, error_local);
		return FALSE;
	}
	fl_cli_report_error(error_local);
	g_error_free(error_local);
	return TRUE;
}

static gboolean
fl_cli_review_decide(FlCli *cli, FlCliDecideFunc func, guint id, GError **error)
{
	GError *error_local = NULL;
	gboolean ok = fl_cli_decide(cli, func, id, NULL, &error_local);

	return fl_cli_review_outcome(ok, error_local, error);
}

/* the spec that runs an ended session's goal again (`retry`), or NULL */
static GVariant *
fl_cli_retry_spec(FlCli *cli, guint id, GError **error);

static gboolean
fl_cli_review_retry(FlCli *cli, guint id, GError **error)
{
	GError *error_local = NULL;
	g_autoptr(GVariant) spec = fl_cli_retry_spec(cli, id, &error_local);
	FlDbusFlotilla1 *proxy;
	guint new_id = 0;
	gboolean ok = FALSE;

	if (spec != NULL) {
		proxy = fl_cli_proxy(cli, &error_local);
		if (proxy != NULL) {
			fl_cli_set_timeout(cli, FL_CLI_GIT_TIMEOUT_MS);
			ok = fl_dbus_flotilla1_call_run_sync(proxy, spec, &new_id, NULL,
							     &error_local);
			fl_cli_set_timeout(cli, FL_CLI_CALL_TIMEOUT_MS);
		}
	}
	if (ok) {
		fprintf(stdout, _("Session %u runs again as session %u."), id, new_id);
		fputc('\n', stdout);
	}
	return fl_cli_review_outcome(ok, error_local, error);
}

static gboolean
fl_cli_review_dismiss(FlCli *cli, guint id, GError **error)
{
	GError *error_local = NULL;
	FlDbusFlotilla1 *proxy = fl_cli_proxy(cli, &error_local);
	gboolean ok =
		proxy != NULL && fl_dbus_flotilla1_call_dismiss_sync(proxy, id, NULL, &error_local);

	if (ok) {
		fprintf(stdout, _("Session %u dismissed: it leaves the review and the check-ins."),
			id);
		fputc('\n', stdout);
	}
	return fl_cli_review_outcome(ok, error_local, error);
}

/* a reply typed at the prompt; an empty one goes back to the question */
static FlCliReviewStep
fl_cli_review_reply(FlCli *cli, GDataInputStream *input, guint id, GError **error)
{
	GError *error_local = NULL;
	g_autofree gchar *text = fl_cli_read_line(input, _("Reply: "), &error_local);
	FlDbusFlotilla1 *proxy;
	gboolean ok;

	if (text == NULL) {
		fputc('\n', stdout);
		if (error_local == NULL)
			return FL_CLI_REVIEW_QUIT;
		g_propagate_error(error, error_local);
		return FL_CLI_REVIEW_ERROR;
	}
	if (text[0] == '\0')
		return FL_CLI_REVIEW_AGAIN;
	if (!fl_cli_check_text(_("reply"), text, strlen(text), &error_local)) {
		fl_cli_report_error(error_local);
		g_error_free(error_local);
		return FL_CLI_REVIEW_AGAIN;
	}
	proxy = fl_cli_proxy(cli, &error_local);
	ok = proxy != NULL &&
	     fl_dbus_flotilla1_call_reply_sync(proxy, id, text, NULL, &error_local);
	if (ok) {
		fprintf(stdout, _("Replied to session %u."), id);
		fputc('\n', stdout);
	}
	if (!fl_cli_review_outcome(ok, error_local, error))
		return FL_CLI_REVIEW_ERROR;
	return FL_CLI_REVIEW_NEXT;
}

/* a group's item in the review is decided as the group, all or none */
static gboolean
fl_cli_review_decide_item(FlCli *cli, FlCliDecideFunc func, GVariant *item, GError **error)
{
	const gchar *group = fl_cli_dict_str(item, "group");
	g_autoptr(GError) error_local = NULL;

	/* a blocked member's question is answered for that session alone */
	if (group == NULL || g_strcmp0(fl_cli_dict_str(item, "review"), "pending") != 0)
		return fl_cli_review_decide(cli, func, fl_cli_dict_id(item), error);
	if (fl_cli_decide_group(cli, group,
				func == fl_dbus_flotilla1_call_approve_sync ? "approve" : "reject",
				&error_local))
		return TRUE;
	if (fl_cli_exit_status(error_local) == FL_CLI_EXIT_UNREACHABLE) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	fl_cli_report_error(error_local);
	return TRUE;
}

static FlCliReviewStep
fl_cli_review_item(FlCli *cli, GDataInputStream *input, GVariant *item, GError **error)
{
	guint id = fl_cli_dict_id(item);
	FlCliReviewKind kind = fl_cli_review_kind(item);

	for (;;) {
		g_autofree gchar *answer = NULL;
		g_autoptr(GError) error_local = NULL;
		FlCliReviewStep step;
		gchar letter;

		answer = fl_cli_prompt(input, kind, &error_local);
		if (answer == NULL) {
			/* end of input means quit, as if the user typed q */
			fputc('\n', stdout);
			if (error_local == NULL)
				return FL_CLI_REVIEW_QUIT;
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FL_CLI_REVIEW_ERROR;
		}
		letter = answer[0];
		if (letter == 's')
			return FL_CLI_REVIEW_NEXT;
		if (letter == 'q')
			return FL_CLI_REVIEW_QUIT;
		switch (kind) {
		case FL_CLI_REVIEW_KIND_DRAFT:
			if (letter == 'a' || letter == 'r') {
				if (!fl_cli_review_decide_item(
					    cli,
					    letter == 'a' ? fl_dbus_flotilla1_call_approve_sync
							  : fl_dbus_flotilla1_call_reject_sync,
					    item, error))
					return FL_CLI_REVIEW_ERROR;
				return FL_CLI_REVIEW_NEXT;
			}
			if (letter == 'd') {
				const gchar *path = fl_cli_patch_path(item, id, &error_local);
				if (path == NULL || !fl_cli_page_file(path, &error_local))
					fl_cli_report_error(error_local);
				continue;
			}
			fprintf(stdout, "%s\n", _("Please answer a, r, d, s or q."));
			continue;
		case FL_CLI_REVIEW_KIND_FAILED:
			if (letter == 't')
				return fl_cli_review_retry(cli, id, error) ? FL_CLI_REVIEW_NEXT
									   : FL_CLI_REVIEW_ERROR;
			if (letter == 'x')
				return fl_cli_review_dismiss(cli, id, error) ? FL_CLI_REVIEW_NEXT
									     : FL_CLI_REVIEW_ERROR;
			if (letter == 'l') {
				const gchar *path = fl_cli_dict_str(item, "log_path");
				if (path == NULL || !fl_cli_page_file(path, &error_local))
					fl_cli_report_error(error_local);
				continue;
			}
			fprintf(stdout, "%s\n", _("Please answer t, x, l, s or q."));
			continue;
		case FL_CLI_REVIEW_KIND_PERMISSION:
			if (letter == 'y' || letter == 'n') {
				/* the same as `approve`/`reject` on it: allow or deny */
				if (!fl_cli_review_decide(
					    cli,
					    letter == 'y' ? fl_dbus_flotilla1_call_approve_sync
							  : fl_dbus_flotilla1_call_reject_sync,
					    id, error))
					return FL_CLI_REVIEW_ERROR;
				return FL_CLI_REVIEW_NEXT;
			}
			/* a reply is a no with the reason */
			G_GNUC_FALLTHROUGH;
		case FL_CLI_REVIEW_KIND_QUESTION:
		default:
			if (letter == 't') {
				step = fl_cli_review_reply(cli, input, id, error);
				if (step != FL_CLI_REVIEW_AGAIN)
					return step;
				continue;
			}
			fprintf(stdout, "%s\n",
				kind == FL_CLI_REVIEW_KIND_PERMISSION
					? _("Please answer y, n, t, s or q.")
					: _("Please answer t, s or q."));
			continue;
		}
	}
}

/*
 * `review`: the items that await the user, most urgent first, one at a time. After each the
 * list is asked for again, so what was decided elsewhere meanwhile is gone and the count in
 * the header is what is left.
 */
static gboolean
fl_cli_cmd_review(FlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GInputStream) stdin_stream = NULL;
	g_autoptr(GDataInputStream) input = NULL;
	g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);
	FlDbusFlotilla1 *proxy;
	guint done = 0;

	if (!fl_cli_args_none(args, error))
		return FALSE;
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	stdin_stream = g_unix_input_stream_new(STDIN_FILENO, FALSE);
	input = g_data_input_stream_new(stdin_stream);
	for (;;) {
		g_autoptr(GVariant) items = NULL;
		g_autoptr(GVariant) item = NULL;
		FlCliReviewStep step;
		guint left = 0;

		proxy = fl_cli_proxy(cli, error);
		if (proxy == NULL ||
		    !fl_dbus_flotilla1_call_review_items_sync(proxy, &items, NULL, error))
			return FALSE;
		for (gsize i = 0; i < g_variant_n_children(items); i++) {
			g_autoptr(GVariant) child = g_variant_get_child_value(items, i);
			if (g_hash_table_contains(seen, GUINT_TO_POINTER(fl_cli_dict_id(child))))
				continue;
			if (item == NULL)
				item = g_variant_ref(child);
			left++;
		}
		if (item == NULL) {
			if (done == 0)
				fprintf(stdout, "%s\n", _("Nothing to review."));
			return TRUE;
		}
		if (done > 0)
			fputc('\n', stdout);
		fl_cli_print_review_item(cli, item, done + 1, done + left);
		step = fl_cli_review_item(cli, input, item, error);
		if (step == FL_CLI_REVIEW_ERROR)
			return FALSE;
		if (step == FL_CLI_REVIEW_QUIT)
			return TRUE;
		g_hash_table_add(seen, GUINT_TO_POINTER(fl_cli_dict_id(item)));
		done++;
	}
}

/* ---- inside a session: hook, blocked ---- */

static gboolean
fl_cli_session_from_env(const gchar *command, guint *id, GError **error)
{
	const gchar *env = g_getenv("FLOTILLA_SESSION");
	g_autoptr(GError) error_local = NULL;

	if (env == NULL || env[0] == '\0')
		return fl_cli_usage_error(
			error, _("flotilla %s runs inside a session (FLOTILLA_SESSION is not set)"),
			command);
	if (!fl_cli_parse_id(env, id, &error_local)) {
		g_autofree gchar *text = fl_error_render(error_local);

		return fl_cli_usage_error(error, "FLOTILLA_SESSION: %s", text);
	}
	return TRUE;
}

/*
 * One request through the session's channel (fl-relay.h): the runner outside the sandbox
 * relays it for this session only. NULL on failure.
 */
static gchar *
fl_cli_channel_call(const gchar *channel, JsonBuilder *request, GError **error)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(channel);
	g_autoptr(GSocketConnection) connection = NULL;
	g_autoptr(JsonNode) root = json_builder_get_root(request);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *text = json_to_string(root, FALSE);
	g_autofree gchar *buf = g_malloc(FL_RELAY_MAX + 1);
	JsonObject *answer;
	gsize len = 0;

	connection =
		g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, &error_local);
	if (connection == NULL ||
	    !g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(connection)), text,
				       strlen(text), NULL, NULL, &error_local) ||
	    !g_socket_shutdown(g_socket_connection_get_socket(connection), FALSE, TRUE,
			       &error_local) ||
	    !g_input_stream_read_all(g_io_stream_get_input_stream(G_IO_STREAM(connection)), buf,
				     FL_RELAY_MAX + 1, &len, NULL, &error_local)) {
		fl_cli_unreachable(error, error_local);
		return NULL;
	}
	if (len > FL_RELAY_MAX || !g_utf8_validate_len(buf, len, NULL) ||
	    !json_parser_load_from_data(parser, buf, len, NULL) ||
	    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		g_set_error(error, FL_ERROR, FL_ERROR_FAILED,
			    _("the session's channel answered something unreadable"));
		return NULL;
	}
	answer = json_node_get_object(json_parser_get_root(parser));
	if (json_object_has_member(answer, "reply"))
		return g_strdup(json_object_get_string_member_with_default(answer, "reply", ""));
	g_set_error(error, FL_ERROR, FL_ERROR_FAILED, "%s",
		    json_object_get_string_member_with_default(answer, "error", "?"));
	return NULL;
}

static const gchar *
fl_cli_channel(void)
{
	const gchar *channel = g_getenv("FLOTILLA_CHANNEL");

	return channel != NULL && channel[0] != '\0' ? channel : NULL;
}

/*
 * Hooks run inside the agent, and the agent reads the hook's exit status: Claude Code takes
 * 2 as "block this action" and shows any other non-zero status as a hook error. A flotilla
 * problem (daemon unreachable, bad payload, bad usage) must not change what the agent does,
 * so `flotilla hook` reports every failure on stderr only, prints nothing on stdout and
 * exits 0 (errors_exit_zero in the command table).
 */
static gboolean
fl_cli_cmd_hook(FlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GInputStream) stdin_stream = NULL;
	g_autoptr(GBytes) bytes = NULL;
	g_autofree gchar *payload = NULL;
	g_autofree gchar *response = NULL;
	FlDbusFlotilla1 *proxy;
	const gchar *data;
	gsize size;
	guint id;

	if (args[1] == NULL)
		return fl_cli_usage_error(error, _("'hook' needs an agent name"));
	if (args[2] != NULL) {
		g_autofree gchar *shown = fl_text_clean(args[2], -1, FL_TEXT_COLLAPSE_SPACE);
		return fl_cli_usage_error(error, _("unexpected argument '%s'"), shown);
	}
	if (!g_utf8_validate(args[1], -1, NULL))
		return fl_cli_usage_error(error, _("agent name is not valid UTF-8"));
	if (!fl_cli_session_from_env(args[0], &id, error))
		return FALSE;
	stdin_stream = g_unix_input_stream_new(STDIN_FILENO, FALSE);
	bytes = fl_cli_read_limited(stdin_stream, FL_CLI_PAYLOAD_MAX, _("hook payload"), error);
	if (bytes == NULL)
		return FALSE;
	data = g_bytes_get_data(bytes, &size);
	if (!g_utf8_validate_len(data, size, NULL))
		return fl_cli_usage_error(error, _("hook payload is not valid UTF-8"));
	payload = g_strndup(data, size);
	if (fl_cli_channel() != NULL) {
		g_autoptr(JsonBuilder) request = json_builder_new();

		json_builder_begin_object(request);
		json_builder_set_member_name(request, "op");
		json_builder_add_string_value(request, "hook");
		json_builder_set_member_name(request, "agent");
		json_builder_add_string_value(request, args[1]);
		json_builder_set_member_name(request, "payload");
		json_builder_add_string_value(request, payload);
		json_builder_end_object(request);
		response = fl_cli_channel_call(fl_cli_channel(), request, error);
		if (response == NULL)
			return FALSE;
		goto print;
	}
	/* a session started before there were channels */
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	/* the daemon may hold a permission request until the user answers; the agent's own
	 * hook timeout, not ours, bounds the wait */
	fl_cli_set_timeout(cli, G_MAXINT);
	if (!fl_dbus_flotilla1_call_hook_sync(proxy, args[1], id, payload, &response, NULL, error))
		return FALSE;
print:
	if (response[0] != '\0') {
		fputs(response, stdout);
		if (!g_str_has_suffix(response, "\n"))
			fputc('\n', stdout);
	}
	return TRUE;
}

static gboolean
fl_cli_cmd_blocked(FlCli *cli, gchar **args, GError **error)
{
	g_autofree gchar *message = NULL;
	g_autofree gchar *reply = NULL;
	FlDbusFlotilla1 *proxy;
	guint id;

	if (!fl_cli_session_from_env(args[0], &id, error))
		return FALSE;
	message = fl_cli_args_text(args);
	if (!fl_cli_check_text(_("message"), message, strlen(message), error))
		return FALSE;
	if (fl_cli_channel() != NULL) {
		g_autoptr(JsonBuilder) request = json_builder_new();

		json_builder_begin_object(request);
		json_builder_set_member_name(request, "op");
		json_builder_add_string_value(request, "block");
		json_builder_set_member_name(request, "message");
		json_builder_add_string_value(request, message);
		json_builder_end_object(request);
		reply = fl_cli_channel_call(fl_cli_channel(), request, error);
		if (reply == NULL)
			return FALSE;
		fputs(reply, stdout);
		fputc('\n', stdout);
		return TRUE;
	}
	/* a session started before there were channels */
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	/* the session waits for a human: as long as it takes */
	fl_cli_set_timeout(cli, G_MAXINT);
	if (!fl_dbus_flotilla1_call_block_sync(proxy, id, message, &reply, NULL, error))
		return FALSE;
	/* for the agent to read: the reply exactly as the human wrote it */
	fputs(reply, stdout);
	fputc('\n', stdout);
	return TRUE;
}

/* ---- wait ---- */

/*
 * "90", "90s", "30m", "2h", "7d": one number and an optional unit, in seconds. For
 * wait --timeout and clean --older-than.
 */
static gboolean
fl_cli_parse_duration(const gchar *option, const gchar *text, guint64 *seconds, GError **error)
{
	const gchar *units = "smhd";
	const guint64 scale[] = {1, 60, 3600, 86400};
	const gchar *unit = NULL;
	guint64 n = 0;
	const gchar *p = text;

	while (g_ascii_isdigit(*p) && n < G_MAXUINT32) {
		n = n * 10 + (guint64)(*p - '0');
		p++;
	}
	if (p != text && p[0] != '\0' && p[1] == '\0')
		unit = strchr(units, *p);
	if (p == text || n >= G_MAXUINT32 || (p[0] != '\0' && unit == NULL)) {
		g_autofree gchar *shown = fl_text_clean(text, -1, FL_TEXT_COLLAPSE_SPACE);
		return fl_cli_usage_error(error,
					  _("--%s: '%s' is not a duration like 90s, 30m, 2h or 7d"),
					  option, shown);
	}
	*seconds = n * (unit != NULL ? scale[unit - units] : 1);
	return TRUE;
}

static void
fl_cli_options_wait(FlCli *cli, GOptionContext *context)
{
	const GOptionEntry entries[] = {
		{"all", 'a', 0, G_OPTION_ARG_NONE, &cli->all,
		 N_("Wait for every session that is queued, running or blocked now"), NULL},
		{"timeout", 't', 0, G_OPTION_ARG_STRING, &cli->timeout,
		 N_("Give up after DURATION (90s, 30m, 2h); exit status 1"), N_("DURATION")},
		{NULL}};
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
}

static gint
fl_cli_cmp_str(const void *a, const void *b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

static gint
fl_cli_cmp_uint(gconstpointer a, gconstpointer b)
{
	guint ia = *(const guint *)a;
	guint ib = *(const guint *)b;

	return ia < ib ? -1 : ia > ib;
}

/* the ids of the sessions not ended yet, oldest first */
static GArray *
fl_cli_active_ids(FlCli *cli, GError **error)
{
	g_autoptr(GVariant) sessions = NULL;
	g_autoptr(GVariant) options = NULL;
	g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(guint));
	FlDbusFlotilla1 *proxy = fl_cli_proxy(cli, error);
	GVariantBuilder builder;
	GVariantIter iter;
	GVariant *session;

	if (proxy == NULL)
		return NULL;
	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	options = g_variant_ref_sink(g_variant_builder_end(&builder));
	if (!fl_dbus_flotilla1_call_list_sessions_sync(proxy, options, &sessions, NULL, error))
		return NULL;
	g_variant_iter_init(&iter, sessions);
	while ((session = g_variant_iter_next_value(&iter)) != NULL) {
		if (!fl_cli_state_is_final(fl_cli_dict_str(session, "state"))) {
			guint id = fl_cli_dict_id(session);
			g_array_append_val(ids, id);
		}
		g_variant_unref(session);
	}
	g_array_sort(ids, fl_cli_cmp_uint);
	return g_steal_pointer(&ids);
}

static void
fl_cli_wait_timeout_cb(gpointer user_data)
{
	FlCli *cli = user_data;

	cli->timed_out = TRUE;
}

/*
 * `wait ID…` or `wait --all`: one line per session as it ends, in the order given. Exit
 * status 0 only when every one ended done with a verify that did not fail.
 */
static gboolean
fl_cli_cmd_wait(FlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GArray) ids = NULL;
	guint64 timeout = 0;
	guint timeout_id = 0;
	gint status = FL_CLI_EXIT_OK;

	if (cli->timeout != NULL &&
	    !fl_cli_parse_duration("timeout", cli->timeout, &timeout, error))
		return FALSE;
	if (cli->all) {
		if (args[1] != NULL) {
			g_autofree gchar *shown =
				fl_text_clean(args[1], -1, FL_TEXT_COLLAPSE_SPACE);
			return fl_cli_usage_error(error, _("unexpected argument '%s' with --all"),
						  shown);
		}
		ids = fl_cli_active_ids(cli, error);
		if (ids == NULL)
			return FALSE;
	} else {
		if (args[1] == NULL)
			return fl_cli_usage_error(error, _("'%s' needs a session id or --all"),
						  args[0]);
		ids = g_array_new(FALSE, FALSE, sizeof(guint));
		for (guint i = 1; args[i] != NULL; i++) {
			guint id;
			if (!fl_cli_resolve_id(cli, args[i], &id, error))
				return FALSE;
			g_array_append_val(ids, id);
		}
		/* every id is known before we wait for the first: a typo is no hour-long wait */
		for (guint i = 0; i < ids->len; i++) {
			g_autoptr(GVariant) session =
				fl_cli_get_session(cli, g_array_index(ids, guint, i), error);
			if (session == NULL)
				return FALSE;
		}
	}
	if (cli->timeout != NULL)
		timeout_id = g_timeout_add_once((guint)MIN(timeout, G_MAXUINT / 1000) * 1000,
						fl_cli_wait_timeout_cb, cli);
	for (guint i = 0; i < ids->len && !cli->interrupted; i++) {
		g_auto(FlCliWatch) watch = {NULL};
		g_autofree gchar *outcome = NULL;
		guint id = g_array_index(ids, guint, i);

		if (!fl_cli_watch_session(cli, id, FALSE, &watch, error)) {
			if (timeout_id != 0 && !cli->timed_out)
				g_source_remove(timeout_id);
			return FALSE;
		}
		if (cli->interrupted)
			break;
		if (watch.finished) {
			outcome = fl_cli_watch_outcome(&watch);
		} else {
			g_autofree gchar *state = fl_text_clean(fl_cli_state_label(watch.state), -1,
								FL_TEXT_COLLAPSE_SPACE);
			/* TRANSLATORS: wait --timeout ran out, e.g. "session 7: still running" */
			outcome = g_strdup_printf(_("session %u: still %s"), id, state);
		}
		fprintf(stdout, "%s\n", outcome);
		fflush(stdout);
		if (cli->status != FL_CLI_EXIT_OK)
			status = cli->status;
	}
	if (timeout_id != 0 && !cli->timed_out)
		g_source_remove(timeout_id);
	cli->status = status;
	return TRUE;
}

/* ---- retry ---- */

/* a string member of @session as a spec entry, when it has one */
static void
fl_cli_spec_copy(GVariantBuilder *builder, GVariant *session, const gchar *from, const gchar *to)
{
	const gchar *value = fl_cli_dict_str(session, from);

	if (value != NULL)
		g_variant_builder_add(builder, "{sv}", to, g_variant_new_string(value));
}

static void
fl_cli_options_retry(FlCli *cli, GOptionContext *context)
{
	const GOptionEntry entries[] = {
		{"json", 0, 0, G_OPTION_ARG_NONE, &cli->json, N_("Print JSON"), NULL},
		{"onto-current", 0, 0, G_OPTION_ARG_NONE, &cli->onto_current,
		 N_("Start on the base branch's tip, told why the draft no longer applies"), NULL},
		{NULL}};
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
}

/* the note of the session's last refused refresh or approval, or NULL */
static gchar *
fl_cli_last_refusal(FlCli *cli, guint id)
{
	FlDbusFlotilla1 *proxy = fl_cli_proxy(cli, NULL);
	g_autoptr(GVariant) events = NULL;
	GVariantIter iter;
	const gchar *when, *kind, *source, *note;
	gchar *last = NULL;

	if (proxy == NULL ||
	    !fl_dbus_flotilla1_call_get_events_sync(proxy, id, &events, NULL, NULL))
		return NULL;
	g_variant_iter_init(&iter, events);
	while (g_variant_iter_next(&iter, "(&s&s&s&s)", &when, &kind, &source, &note)) {
		if (g_strcmp0(kind, "refused") == 0 && note[0] != '\0') {
			g_free(last);
			last = g_strdup(note);
		}
	}
	return last;
}

/*
 * `retry ID --onto-current`: the goal again, with what made the old draft stop applying
 * (the conflicting files, the refusal) as context for the agent, on the base branch's tip.
 * Each context line starts with "# ": a shell agent's goal is a command, where they are
 * comments; an agent reading English reads them as notes.
 */
static gchar *
fl_cli_goal_onto_current(FlCli *cli, GVariant *session, guint id)
{
	g_autoptr(GString) goal = g_string_new(fl_cli_dict_str(session, "goal"));
	g_autoptr(GVariant) conflicts =
		g_variant_lookup_value(session, "conflicts", G_VARIANT_TYPE_STRING_ARRAY);
	g_autofree gchar *refusal = fl_cli_last_refusal(cli, id);
	const gchar *base = fl_cli_dict_str(session, "base");

	g_string_append(goal, "\n\n# ");
	g_string_append_printf(goal,
			       _("Context from flotilla: session #%u worked on this goal before; "
				 "its draft no longer applies onto the current tip of %s, which "
				 "this session starts from."),
			       id, base != NULL ? base : "?");
	if (conflicts != NULL && g_variant_n_children(conflicts) > 0) {
		g_autofree const gchar **files = g_variant_get_strv(conflicts, NULL);
		g_autofree gchar *list = g_strjoinv(", ", (gchar **)files);

		g_string_append(goal, "\n# ");
		g_string_append_printf(goal, _("Files that conflict: %s"), list);
	}
	if (refusal != NULL) {
		g_autofree gchar *one = fl_text_clean(refusal, -1, FL_TEXT_COLLAPSE_SPACE);

		g_string_append(goal, "\n# ");
		g_string_append_printf(goal, _("flotilla refresh said: %s"), one);
	}
	return g_string_free(g_steal_pointer(&goal), FALSE);
}

/*
 * `retry ID`: a new session with the goal, name, agent, repository, base and verify command
 * of an ended one, its history linked to the old one's.
 */
static GVariant *
fl_cli_retry_spec(FlCli *cli, guint id, GError **error)
{
	g_autoptr(GVariant) session = NULL;
	GVariantBuilder builder;
	const gchar *state;

	session = fl_cli_get_session(cli, id, error);
	if (session == NULL)
		return NULL;
	state = fl_cli_dict_str(session, "state");
	if (!fl_cli_state_is_final(state)) {
		g_autofree gchar *shown =
			fl_text_clean(fl_cli_state_label(state), -1, FL_TEXT_COLLAPSE_SPACE);
		g_set_error(error, FL_ERROR, FL_ERROR_WRONG_STATE,
			    _("session %u is still %s: retry it once it has ended"), id, shown);
		return NULL;
	}
	if (cli->onto_current && fl_cli_dict_str(session, "repo") == NULL) {
		g_set_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT,
			    _("session %u ran without a repository: there is no base branch to "
			      "start on"),
			    id);
		return NULL;
	}
	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	if (cli->onto_current)
		g_variant_builder_add(
			&builder, "{sv}", "goal",
			g_variant_new_take_string(fl_cli_goal_onto_current(cli, session, id)));
	else
		fl_cli_spec_copy(&builder, session, "goal", "goal");
	fl_cli_spec_copy(&builder, session, "name", "name");
	fl_cli_spec_copy(&builder, session, "agent", "agent");
	fl_cli_spec_copy(&builder, session, "repo", "repo");
	fl_cli_spec_copy(&builder, session, "base", "base");
	fl_cli_spec_copy(&builder, session, "verify_command", "verify");
	fl_cli_spec_copy(&builder, session, "priority", "priority");
	{
		gdouble budget = 0;

		if (fl_cli_dict_double(session, "budget_usd", &budget))
			g_variant_builder_add(&builder, "{sv}", "budget",
					      g_variant_new_double(budget));
	}
	/* the same subdirectory: the daemon finds it from a directory inside the repository */
	if (fl_cli_dict_str(session, "repo") != NULL &&
	    fl_cli_dict_str(session, "subdir") != NULL) {
		g_autofree gchar *cwd = g_build_filename(fl_cli_dict_str(session, "repo"),
							 fl_cli_dict_str(session, "subdir"), NULL);
		g_variant_builder_add(&builder, "{sv}", "cwd", g_variant_new_string(cwd));
	}
	/* the first ran without a repository: so does the retry, wherever it is started */
	if (fl_cli_dict_str(session, "repo") == NULL)
		g_variant_builder_add(&builder, "{sv}", "scratch", g_variant_new_boolean(TRUE));
	g_variant_builder_add(&builder, "{sv}", "retry-of", g_variant_new_uint32(id));
	return g_variant_ref_sink(g_variant_builder_end(&builder));
}

static gboolean
fl_cli_cmd_retry(FlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GVariant) spec = NULL;
	FlDbusFlotilla1 *proxy;
	guint id;

	if (!fl_cli_args_id(cli, args, &id, error))
		return FALSE;
	spec = fl_cli_retry_spec(cli, id, error);
	if (spec == NULL)
		return FALSE;
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	return fl_cli_run_one(cli, proxy, spec, error);
}

/* ---- queue controls ---- */

static gboolean
fl_cli_cmd_pause(FlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GVariant) options = NULL;
	FlDbusFlotilla1 *proxy;
	gboolean pause = g_strcmp0(args[0], "pause") == 0;

	GVariantBuilder builder;

	if (!fl_cli_args_none(args, error))
		return FALSE;
	if (cli->group != NULL) {
		const gchar *name = cli->group[0] == '@' ? cli->group + 1 : cli->group;
		g_autofree gchar *shown = fl_text_clean(cli->group, -1, FL_TEXT_COLLAPSE_SPACE);
		if (!fl_groups_name_is_valid(name))
			return fl_cli_usage_error(error, _("'%s' is not a group (@NAME)"), shown);
	}
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	if (cli->group != NULL)
		g_variant_builder_add(
			&builder, "{sv}", "group",
			g_variant_new_string(cli->group[0] == '@' ? cli->group + 1 : cli->group));
	options = g_variant_ref_sink(g_variant_builder_end(&builder));
	if (pause ? !fl_dbus_flotilla1_call_pause_sync(proxy, options, NULL, error)
		  : !fl_dbus_flotilla1_call_resume_sync(proxy, options, NULL, error))
		return FALSE;
	if (cli->group != NULL) {
		g_autofree gchar *clean = fl_text_clean(cli->group, -1, FL_TEXT_COLLAPSE_SPACE);
		fprintf(stdout,
			pause ? _("Group %s paused: its queued sessions wait; the rest of the "
				  "queue "
				  "goes on.")
			      : _("Group %s resumed."),
			clean);
		fputc('\n', stdout);
		return TRUE;
	}
	fputs(pause ? _("Queue paused: queued sessions wait; running ones go on.")
		    : _("Queue resumed."),
	      stdout);
	fputc('\n', stdout);
	return TRUE;
}

/* `set max-parallel N`, `set max-unreviewed N`: now, and saved in the config file */
static gboolean
fl_cli_cmd_set(FlCli *cli, gchar **args, GError **error)
{
	g_autofree gchar *shown = NULL;
	FlDbusFlotilla1 *proxy;
	guint64 value = 0;

	if (args[1] == NULL || args[2] == NULL)
		return fl_cli_usage_error(
			error, _("'%s' needs a setting and a value, e.g. 'set max-parallel 4'"),
			args[0]);
	if (args[3] != NULL) {
		shown = fl_text_clean(args[3], -1, FL_TEXT_COLLAPSE_SPACE);
		return fl_cli_usage_error(error, _("unexpected argument '%s'"), shown);
	}
	if (g_strcmp0(args[1], "max-parallel") != 0 && g_strcmp0(args[1], "max-unreviewed") != 0) {
		shown = fl_text_clean(args[1], -1, FL_TEXT_COLLAPSE_SPACE);
		return fl_cli_usage_error(
			error, _("unknown setting '%s' (max-parallel or max-unreviewed)"), shown);
	}
	if (!g_ascii_string_to_unsigned(args[2], 10, 0, G_MAXUINT32, &value, NULL)) {
		shown = fl_text_clean(args[2], -1, FL_TEXT_COLLAPSE_SPACE);
		return fl_cli_usage_error(error, _("'%s' is not a whole number"), shown);
	}
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	if (!fl_dbus_flotilla1_call_set_limit_sync(proxy, args[1], (guint)value, NULL, error))
		return FALSE;
	/* TRANSLATORS: e.g. "max-parallel is 4 now and in the config file." */
	fprintf(stdout, _("%s is %u now and in the config file."), args[1], (guint)value);
	fputc('\n', stdout);
	return TRUE;
}

/* ---- clean ---- */

static void
fl_cli_options_clean(FlCli *cli, GOptionContext *context)
{
	const GOptionEntry entries[] = {
		{"older-than", 0, 0, G_OPTION_ARG_STRING, &cli->older_than,
		 N_("Only sessions that ended at least DURATION ago (30d, 12h)"), N_("DURATION")},
		{"state", 0, 0, G_OPTION_ARG_STRING, &cli->state,
		 N_("Only sessions in this state or review: done, failed, cancelled, interrupted, "
		    "approved, rejected, reverted"),
		 N_("STATE")},
		{"dry-run", 'n', 0, G_OPTION_ARG_NONE, &cli->dry_run,
		 N_("Print what would be removed and remove nothing"), NULL},
		{NULL}};
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
}

/*
 * `clean`: flotillad removes the files and worktrees of ended sessions (never a draft awaiting
 * review, never a branch) and keeps their rows and history; this prints each path it removed
 */
static gboolean
fl_cli_cmd_clean(FlCli *cli, gchar **args, GError **error)
{
	static const gchar *const states[] = {"done",     "failed",   "cancelled", "interrupted",
					      "approved", "rejected", "reverted",  NULL};
	g_autoptr(GVariant) removed = NULL;
	GVariantBuilder options;
	FlDbusFlotilla1 *proxy;
	GVariantIter iter;
	GVariant *item;
	guint64 seconds = 0;

	if (!fl_cli_args_none(args, error))
		return FALSE;
	if (cli->older_than != NULL &&
	    !fl_cli_parse_duration("older-than", cli->older_than, &seconds, error))
		return FALSE;
	if (cli->state != NULL && !g_strv_contains(states, cli->state)) {
		g_autofree gchar *shown = fl_text_clean(cli->state, -1, FL_TEXT_COLLAPSE_SPACE);
		g_autofree gchar *known = g_strjoinv(", ", (gchar **)states);
		return fl_cli_usage_error(error, _("unknown state '%s' (%s)"), shown, known);
	}
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
	if (cli->older_than != NULL)
		g_variant_builder_add(&options, "{sv}", "older_than",
				      g_variant_new_uint64(seconds));
	if (cli->state != NULL)
		g_variant_builder_add(&options, "{sv}", "state", g_variant_new_string(cli->state));
	if (cli->dry_run)
		g_variant_builder_add(&options, "{sv}", "dry_run", g_variant_new_boolean(TRUE));
	/* git forgets each worktree before its files go: that takes a while for many */
	fl_cli_set_timeout(cli, FL_CLI_GIT_TIMEOUT_MS);
	if (!fl_dbus_flotilla1_call_clean_sync(proxy, g_variant_builder_end(&options), &removed,
					       NULL, error))
		return FALSE;
	if (g_variant_n_children(removed) == 0) {
		fputs(_("Nothing to clean."), stdout);
		fputc('\n', stdout);
		return TRUE;
	}
	g_variant_iter_init(&iter, removed);
	while ((item = g_variant_iter_next_value(&iter)) != NULL) {
		g_autoptr(GVariant) owned = item;
		g_autofree const gchar **paths = NULL;
		guint32 id = 0;

		g_variant_lookup(item, "id", "u", &id);
		if (!g_variant_lookup(item, "paths", "^a&s", &paths) || paths[0] == NULL) {
			fprintf(stdout,
				cli->dry_run
					? _("session %u: would be marked cleaned (nothing on disk)")
					: _("session %u: marked cleaned (nothing on disk)"),
				id);
			fputc('\n', stdout);
			continue;
		}
		for (guint i = 0; paths[i] != NULL; i++) {
			g_autofree gchar *shown =
				fl_text_clean(paths[i], -1, FL_TEXT_COLLAPSE_SPACE);
			/* TRANSLATORS: e.g. "session 4: removed
			 * ~/.local/state/flotilla/worktrees/4" */
			fprintf(stdout,
				cli->dry_run ? _("session %u: would remove %s")
					     : _("session %u: removed %s"),
				id, shown);
			fputc('\n', stdout);
		}
	}
	return TRUE;
}

/* `reload`: flotillad re-reads its configuration file; a mistake is its one-line reason */
static gboolean
fl_cli_cmd_reload(FlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GVariant) options = NULL;
	g_auto(GStrv) notes = NULL;
	FlDbusFlotilla1 *proxy;

	if (!fl_cli_args_none(args, error))
		return FALSE;
	proxy = fl_cli_proxy(cli, error);
	if (proxy == NULL)
		return FALSE;
	options = g_variant_ref_sink(g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0));
	if (!fl_dbus_flotilla1_call_reload_sync(proxy, options, &notes, NULL, error))
		return FALSE;
	fputs(_("Configuration reloaded."), stdout);
	fputc('\n', stdout);
	for (guint i = 0; notes[i] != NULL; i++) {
		g_autofree gchar *line = fl_text_clean(notes[i], -1, FL_TEXT_COLLAPSE_SPACE);
		fprintf(stdout, "%s\n", line);
	}
	return TRUE;
}

/* ---- config ---- */

/*
 * `config check [FILE]`: reads the file the way flotillad does, without flotillad, so a
 * mistake is found before a restart fails on it. FILE defaults to the daemon's
 * ($FLOTILLA_CONFIG, else ~/.config/flotilla/flotilla.conf).
 */
static gboolean
fl_cli_cmd_config(FlCli *cli, gchar **args, GError **error)
{
	g_autoptr(FlConfig) config = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *shown = NULL;

	if (args[1] == NULL)
		return fl_cli_usage_error(error, _("'%s' needs a subcommand: check"), args[0]);
	if (g_strcmp0(args[1], "check") != 0) {
		shown = fl_text_clean(args[1], -1, FL_TEXT_COLLAPSE_SPACE);
		return fl_cli_usage_error(error, _("unknown subcommand '%s'; try 'config check'"),
					  shown);
	}
	if (args[2] != NULL && args[3] != NULL) {
		shown = fl_text_clean(args[3], -1, FL_TEXT_COLLAPSE_SPACE);
		return fl_cli_usage_error(error, _("unexpected argument '%s'"), shown);
	}
	if (args[2] != NULL) {
		path = g_strdup(args[2]);
		/* a file named here must exist: flotillad's default may be missing, this not */
		if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
			shown = fl_text_clean(path, -1, FL_TEXT_COLLAPSE_SPACE);
			return fl_cli_usage_error(error, _("%s: no such file"), shown);
		}
	} else if (g_getenv("FLOTILLA_CONFIG") != NULL) {
		path = g_strdup(g_getenv("FLOTILLA_CONFIG"));
	} else {
		path = fl_config_default_path();
	}
	shown = fl_text_clean(path, -1, FL_TEXT_COLLAPSE_SPACE);
	config = fl_config_load(path, error);
	if (config == NULL) {
		/* the file is wrong, not the command line: a refusal, exit status 1 */
		g_autofree gchar *text = fl_error_render(*error);
		g_autofree gchar *message = fl_text_clean(text, -1, FL_TEXT_COLLAPSE_SPACE);

		g_clear_error(error);
		g_set_error_literal(error, FL_ERROR, FL_ERROR_FAILED, message);
		return FALSE;
	}
	if (!g_file_test(path, G_FILE_TEST_EXISTS))
		fprintf(stdout, _("%s: no such file; flotillad uses the defaults"), shown);
	else
		fprintf(stdout, _("%s: ok"), shown);
	fputc('\n', stdout);
	return TRUE;
}

/* ---- shell completion ---- */

/* whether session @session makes sense as the ID argument of @command */
static gboolean
fl_cli_complete_matches(const gchar *command, GVariant *session)
{
	const gchar *state = fl_cli_dict_str(session, "state");
	const gchar *review = fl_cli_dict_str(session, "review");

	if (g_strcmp0(command, "approve") == 0 || g_strcmp0(command, "reject") == 0 ||
	    g_strcmp0(command, "refresh") == 0)
		return g_strcmp0(review, "pending") == 0;
	if (g_strcmp0(command, "revert") == 0)
		return g_strcmp0(review, "approved") == 0;
	if (g_strcmp0(command, "reply") == 0)
		return g_strcmp0(state, "blocked") == 0;
	if (g_strcmp0(command, "cancel") == 0 || g_strcmp0(command, "wait") == 0)
		return !fl_cli_state_is_final(state);
	if (g_strcmp0(command, "retry") == 0)
		return fl_cli_state_is_final(state);
	if (g_strcmp0(command, "dismiss") == 0)
		return g_strcmp0(review, "pending") != 0 &&
		       (g_strcmp0(state, "failed") == 0 || g_strcmp0(state, "interrupted") == 0 ||
			g_strcmp0(state, "cancelled") == 0);
	return TRUE;
}

/*
 * `flotilla __complete-ids [COMMAND]`, for the bash and zsh completions: one line per session
 * that fits COMMAND, "ID<tab>STATE<tab>TITLE". Pressing Tab must neither start flotillad nor
 * print errors into the command line, so a daemon that is not running means no ids, and
 * every failure means no output.
 */
static gboolean
fl_cli_cmd_complete_ids(FlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GVariant) sessions = NULL;
	g_autoptr(GVariant) options = NULL;
	g_autoptr(GError) error_local = NULL;
	const gchar *command = args[1] != NULL ? args[1] : "";
	g_autoptr(GHashTable) groups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	FlDbusFlotilla1 *proxy;
	GVariantBuilder builder;
	GVariantIter iter;
	GVariant *session;

	proxy = fl_cli_proxy_full(cli, FALSE, &error_local);
	if (proxy == NULL)
		return TRUE;
	fl_cli_set_timeout(cli, FL_CLI_COMPLETE_TIMEOUT);
	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	/* approved drafts may be old: revert looks through every session */
	g_variant_builder_add(&builder, "{sv}", "all",
			      g_variant_new_boolean(g_strcmp0(command, "revert") == 0));
	options = g_variant_ref_sink(g_variant_builder_end(&builder));
	if (!fl_dbus_flotilla1_call_list_sessions_sync(proxy, options, &sessions, NULL,
						       &error_local))
		return TRUE;
	g_variant_iter_init(&iter, sessions);
	while ((session = g_variant_iter_next_value(&iter)) != NULL) {
		const gchar *group = fl_cli_dict_str(session, "group");

		/* a group is decided and shown as one (@NAME) where one of its members would be */
		if (group != NULL && fl_cli_complete_matches(command, session) &&
		    (g_strcmp0(command, "approve") == 0 || g_strcmp0(command, "reject") == 0 ||
		     g_strcmp0(command, "show") == 0) &&
		    g_hash_table_add(groups, g_strdup(group))) {
			g_autofree gchar *name = fl_text_clean(group, -1, FL_TEXT_COLLAPSE_SPACE);
			fprintf(stdout, "@%s\t%s\t\n", name, _("group"));
		}
		if (fl_cli_complete_matches(command, session)) {
			g_autofree gchar *title_full = fl_cli_session_title(session);
			g_autofree gchar *title =
				fl_cli_ellipsize(title_full, FL_CLI_COMPLETE_TITLE);
			g_autofree gchar *state =
				fl_text_clean(fl_cli_state_label(fl_cli_dict_str(session, "state")),
					      -1, FL_TEXT_COLLAPSE_SPACE);
			fprintf(stdout, "%u\t%s\t%s\n", fl_cli_dict_id(session), state, title);
		}
		g_variant_unref(session);
	}
	return TRUE;
}

/*
 * `flotilla __complete-agents`: the names `run --agent` accepts, one a line, from the same
 * configuration flotillad reads; nothing (and no error) when it cannot be read.
 */
static gboolean
fl_cli_cmd_complete_agents(FlCli *cli, gchar **args, GError **error)
{
	g_autofree gchar *path = g_getenv("FLOTILLA_CONFIG") != NULL
					 ? g_strdup(g_getenv("FLOTILLA_CONFIG"))
					 : fl_config_default_path();
	g_autoptr(FlConfig) config = fl_config_load(path, NULL);
	g_autofree const gchar **names = NULL;
	guint n = 0;

	if (config == NULL)
		return TRUE;
	names = (const gchar **)g_hash_table_get_keys_as_array(config->agents, &n);
	qsort(names, n, sizeof(gchar *), fl_cli_cmp_str);
	for (guint i = 0; i < n; i++)
		fprintf(stdout, "%s\n", names[i]);
	return TRUE;
}

/* ---- commands ---- */

static gboolean
fl_cli_cmd_help(FlCli *cli, gchar **args, GError **error);

static const FlCliCommand fl_cli_commands[] = {
	{"run", N_("[--] GOAL…"), N_("Queue a new session toward GOAL and print its id."),
	 fl_cli_options_run, fl_cli_cmd_run, TRUE, FALSE},
	{"ls", "", N_("List sessions, grouped by what they need from you."), fl_cli_options_ls,
	 fl_cli_cmd_ls, FALSE, FALSE},
	{"show", N_("ID|@GROUP"), N_("Show everything known about one session or group."),
	 fl_cli_options_json, fl_cli_cmd_show, FALSE, FALSE},
	{"log", N_("ID"), N_("Print a session's output."), fl_cli_options_log, fl_cli_cmd_log,
	 FALSE, FALSE},
	{"diff", N_("ID"), N_("Print a session's draft as a patch."), NULL, fl_cli_cmd_diff, FALSE,
	 FALSE},
	{"approve", N_("ID…|@GROUP"),
	 N_("Merge drafts into their base branch, in the order given; a group all or none."),
	 fl_cli_options_note, fl_cli_cmd_approve, FALSE, FALSE},
	{"reject", N_("ID…|@GROUP"), N_("Discard drafts; their patches and logs are kept."),
	 fl_cli_options_note, fl_cli_cmd_reject, FALSE, FALSE},
	{"revert", N_("ID…"), N_("Undo the merges of approved drafts."), fl_cli_options_note,
	 fl_cli_cmd_revert, FALSE, FALSE},
	{"cancel", N_("ID"), N_("Stop a queued, running or blocked session."), NULL,
	 fl_cli_cmd_cancel, FALSE, FALSE},
	{"reply", N_("ID TEXT…"), N_("Answer a blocked session; it resumes."), NULL,
	 fl_cli_cmd_reply, TRUE, FALSE},
	{"wait", N_("ID…"),
	 N_("Wait until sessions end; exit status 0 when all are done and verified."),
	 fl_cli_options_wait, fl_cli_cmd_wait, FALSE, FALSE},
	{"review", "", N_("Walk through what awaits a decision."), NULL, fl_cli_cmd_review, FALSE,
	 FALSE},
	{"checkin", "", N_("Show the check-in digest."), fl_cli_options_checkin, fl_cli_cmd_checkin,
	 FALSE, FALSE},
	{"status", "", N_("Show what the daemon is doing."), fl_cli_options_json, fl_cli_cmd_status,
	 FALSE, FALSE},
	{"hook", N_("AGENT"),
	 N_("Forward an agent hook's JSON from standard input (inside sessions)."), NULL,
	 fl_cli_cmd_hook, FALSE, TRUE},
	{"blocked", N_("MESSAGE…"),
	 N_("Ask the user MESSAGE and print the reply (inside sessions)."), NULL,
	 fl_cli_cmd_blocked, TRUE, FALSE},
	{"retry", N_("ID"), N_("Run an ended session's goal again as a new session."),
	 fl_cli_options_retry, fl_cli_cmd_retry, FALSE, FALSE},
	{"refresh", N_("ID…"),
	 N_("Replay drafts onto their base branch's tip and run their verify command again."), NULL,
	 fl_cli_cmd_refresh, FALSE, FALSE},
	{"dismiss", N_("ID"), N_("Let a failed or cancelled session go: it leaves the review."),
	 NULL, fl_cli_cmd_dismiss, FALSE, FALSE},
	{"pause", "", N_("Start no queued session until 'flotilla resume'."), fl_cli_options_pause,
	 fl_cli_cmd_pause, FALSE, FALSE},
	{"resume", "", N_("Start queued sessions again after 'flotilla pause'."),
	 fl_cli_options_pause, fl_cli_cmd_pause, FALSE, FALSE},
	{"set", N_("SETTING VALUE"), N_("Change max-parallel or max-unreviewed, now and for good."),
	 NULL, fl_cli_cmd_set, FALSE, FALSE},
	{"reload", "", N_("Make flotillad re-read its configuration file."), NULL,
	 fl_cli_cmd_reload, FALSE, FALSE},
	{"clean", "", N_("Remove the files and worktrees of ended sessions; keep their history."),
	 fl_cli_options_clean, fl_cli_cmd_clean, FALSE, FALSE},
	{"config", N_("check [FILE]"), N_("Check the configuration file for mistakes."), NULL,
	 fl_cli_cmd_config, FALSE, FALSE},
	{"help", N_("[COMMAND]"), N_("Show help for flotilla or one command."), NULL,
	 fl_cli_cmd_help, FALSE, FALSE},
	{"__complete-ids", N_("[COMMAND]"), N_("List session ids for shell completion."), NULL,
	 fl_cli_cmd_complete_ids, FALSE, TRUE, TRUE},
	{"__complete-agents", "", N_("List agent names for shell completion."), NULL,
	 fl_cli_cmd_complete_agents, FALSE, TRUE, TRUE},
};

static const FlCliCommand *
fl_cli_command_find(const gchar *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(fl_cli_commands); i++) {
		if (g_strcmp0(fl_cli_commands[i].name, name) == 0)
			return &fl_cli_commands[i];
	}
	return NULL;
}

/* Levenshtein distance, for "did you mean" */
static guint
fl_cli_edit_distance(const gchar *a, const gchar *b)
{
	gsize la = strlen(a);
	gsize lb = strlen(b);
	guint row[32];

	if (la >= 32 || lb >= G_N_ELEMENTS(row))
		return G_MAXUINT;
	for (gsize j = 0; j <= lb; j++)
		row[j] = (guint)j;
	for (gsize i = 1; i <= la; i++) {
		guint diagonal = row[0];
		row[0] = (guint)i;
		for (gsize j = 1; j <= lb; j++) {
			guint above = row[j];
			guint cost = a[i - 1] == b[j - 1] ? 0 : 1;
			row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), diagonal + cost);
			diagonal = above;
		}
	}
	return row[lb];
}

/* the command @name was probably meant to be, or NULL */
static const gchar *
fl_cli_suggest(const gchar *name)
{
	const gchar *best = NULL;
	const gchar *prefixed = NULL;
	guint best_distance = G_MAXUINT;
	guint n_prefixed = 0;

	for (guint i = 0; i < G_N_ELEMENTS(fl_cli_commands); i++) {
		const gchar *candidate = fl_cli_commands[i].name;
		guint distance;

		if (fl_cli_commands[i].hidden)
			continue;
		distance = fl_cli_edit_distance(name, candidate);
		if (distance < best_distance) {
			best_distance = distance;
			best = candidate;
		}
		if (strlen(name) >= 2 && g_str_has_prefix(candidate, name)) {
			prefixed = candidate;
			n_prefixed++;
		}
	}
	if (best_distance <= 2 && best_distance < strlen(name))
		return best;
	if (n_prefixed == 1)
		return prefixed;
	return NULL;
}

static gboolean
fl_cli_unknown_command(const gchar *name, GError **error)
{
	g_autofree gchar *shown = fl_text_clean(name, -1, FL_TEXT_COLLAPSE_SPACE);
	const gchar *suggestion = fl_cli_suggest(name);

	if (suggestion != NULL)
		return fl_cli_usage_error(error, _("unknown command '%s'; did you mean '%s'?"),
					  shown, suggestion);
	return fl_cli_usage_error(error, _("unknown command '%s'; see 'flotilla help'"), shown);
}

static void
fl_cli_print_usage(FILE *stream)
{
	GString *out = g_string_new(NULL);

	g_string_append_printf(out, "%s\n  flotilla %s\n\n", _("Usage:"),
			       _("COMMAND [OPTION…] [ARGUMENT…]"));
	g_string_append_printf(out, "%s\n\n",
			       _("Run background coding-agent sessions and review their drafts."));
	g_string_append_printf(out, "%s\n", _("Commands:"));
	for (guint i = 0; i < G_N_ELEMENTS(fl_cli_commands); i++) {
		const FlCliCommand *cmd = &fl_cli_commands[i];
		g_autofree gchar *synopsis = NULL;

		if (cmd->hidden)
			continue;
		synopsis = g_strdup_printf("%s %s", cmd->name,
					   cmd->params[0] != '\0' ? _(cmd->params) : "");
		g_string_append(out, "  ");
		fl_cli_append_padded(out, g_strchomp(synopsis), 20);
		g_string_append_printf(out, "  %s\n", _(cmd->summary));
	}
	g_string_append_printf(out, "\n%s\n%s\n",
			       _("Run 'flotilla help COMMAND' or 'flotilla COMMAND --help' for a "
				 "command's options."),
			       _("Exit status: 0 ok, 1 refused because of a session's state or "
				 "failed, 2 bad usage or unknown id, 3 flotillad unreachable."));
	fputs(out->str, stream);
	g_string_free(out, TRUE);
}

static GOptionContext *
fl_cli_context_new(FlCli *cli, const FlCliCommand *cmd)
{
	/* our own --help: GOption's calls exit() from inside the parser */
	const GOptionEntry help_entries[] = {
		{"help", 'h', 0, G_OPTION_ARG_NONE, &cli->help, N_("Show this help"), NULL},
		{NULL}};
	GOptionContext *context = g_option_context_new(cmd->params);

	g_option_context_set_translation_domain(context, GETTEXT_PACKAGE);
	g_option_context_set_help_enabled(context, FALSE);
	g_option_context_set_summary(context, cmd->summary);
	g_option_context_set_strict_posix(context, cmd->strict_posix);
	g_option_context_add_main_entries(context, help_entries, GETTEXT_PACKAGE);
	if (cmd->add_options != NULL)
		cmd->add_options(cli, context);
	return context;
}

static void
fl_cli_print_command_help(FlCli *cli, const FlCliCommand *cmd)
{
	g_autoptr(GOptionContext) context = fl_cli_context_new(cli, cmd);
	g_autofree gchar *help = g_option_context_get_help(context, TRUE, NULL);

	fputs(help, stdout);
}

static gboolean
fl_cli_cmd_help(FlCli *cli, gchar **args, GError **error)
{
	const FlCliCommand *cmd;

	if (args[1] == NULL) {
		fl_cli_print_usage(stdout);
		return TRUE;
	}
	if (args[2] != NULL) {
		g_autofree gchar *shown = fl_text_clean(args[2], -1, FL_TEXT_COLLAPSE_SPACE);
		return fl_cli_usage_error(error, _("unexpected argument '%s'"), shown);
	}
	cmd = fl_cli_command_find(args[1]);
	if (cmd == NULL)
		return fl_cli_unknown_command(args[1], error);
	fl_cli_print_command_help(cli, cmd);
	return TRUE;
}

/* parses the options of @cmd and runs it; @args[0] is the command's name */
static gboolean
fl_cli_dispatch(FlCli *cli, const FlCliCommand *cmd, gchar ***args, GError **error)
{
	g_autoptr(GOptionContext) context = fl_cli_context_new(cli, cmd);
	gchar **argv;

	if (!g_option_context_parse_strv(context, args, error))
		return FALSE;
	argv = *args;
	/* GOption keeps "--" when an argument after it starts with '-': it only separates */
	if (argv[0] != NULL && g_strcmp0(argv[1], "--") == 0) {
		g_free(argv[1]);
		memmove(argv + 1, argv + 2, (g_strv_length(argv + 2) + 1) * sizeof(gchar *));
	}
	if (cli->help) {
		fl_cli_print_command_help(cli, cmd);
		return TRUE;
	}
	return cmd->func(cli, argv, error);
}

/* "flotilla run", "flotilla help run" → "flotilla run" in GOption's usage line */
static void
fl_cli_set_prgname(gint argc, gchar **argv)
{
	const gchar *name = argv[1];
	g_autofree gchar *prgname = NULL;

	if (g_strcmp0(name, "help") == 0 && argc > 2 && fl_cli_command_find(argv[2]) != NULL)
		name = argv[2];
	prgname = fl_cli_command_find(name) != NULL ? g_strdup_printf("flotilla %s", name)
						    : g_strdup("flotilla");
	g_set_prgname(prgname);
}

static gint
fl_cli_flush(gint status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "flotilla: %s\n", _("cannot write to standard output"));
		return status == FL_CLI_EXIT_OK ? FL_CLI_EXIT_FAILED : status;
	}
	return status;
}

static gint
fl_cli_run(FlCli *cli, gint argc, gchar **argv)
{
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) args = NULL;
	const FlCliCommand *cmd;
	gint status;

	fl_cli_set_prgname(argc, argv);
	if (argc < 2) {
		fl_cli_print_usage(stderr);
		return FL_CLI_EXIT_USAGE;
	}
	if (g_strcmp0(argv[1], "--version") == 0) {
		fprintf(stdout, "flotilla %s\n", PACKAGE_VERSION);
		return fl_cli_flush(FL_CLI_EXIT_OK);
	}
	if (g_strcmp0(argv[1], "--help") == 0 || g_strcmp0(argv[1], "-h") == 0) {
		fl_cli_print_usage(stdout);
		return fl_cli_flush(FL_CLI_EXIT_OK);
	}
	if (argv[1][0] == '-') {
		g_autofree gchar *shown = fl_text_clean(argv[1], -1, FL_TEXT_COLLAPSE_SPACE);
		fl_cli_usage_error(&error, _("unknown option '%s'; see 'flotilla help'"), shown);
		return fl_cli_report_error(error);
	}
	cmd = fl_cli_command_find(argv[1]);
	if (cmd == NULL) {
		fl_cli_unknown_command(argv[1], &error);
		return fl_cli_report_error(error);
	}

	args = g_strdupv(argv + 1);
	if (fl_cli_dispatch(cli, cmd, &args, &error)) {
		status = fl_cli_flush(cli->status);
	} else {
		status = fl_cli_report_error(error);
		fl_cli_flush(status);
	}
	return cmd->errors_exit_zero ? FL_CLI_EXIT_OK : status;
}

int
main(int argc, char **argv)
{
	g_autoptr(FlCli) cli = NULL;
	gboolean interrupted;
	gint status;

	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE, fl_i18n_localedir());
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);
	/* registers FL_ERROR with GDBus: daemon errors come back with their FL_ERROR codes */
	fl_error_quark();

	cli = fl_cli_new();
	status = fl_cli_run(cli, argc, argv);
	interrupted = cli->interrupted;
	g_clear_pointer(&cli, fl_cli_free);
	if (interrupted) {
		/* Ctrl-C during a wait: the status line is gone; now end the way the shell expects
		 */
		signal(SIGINT, SIG_DFL);
		raise(SIGINT);
	}
	return status;
}
