/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-session-data.h"

#include "fl-msg.h"
#include "fl-text.h"
#include "fl-util.h"

static const gchar *const fl_session_data_state_names[] = {
	"queued", "running", "blocked", "done", "failed", "cancelled", "interrupted"};
static const gchar *const fl_session_data_review_names[] = {"none", "pending", "approved",
							    "rejected", "reverted"};

const gchar *
fl_state_to_string(FlState state)
{
	g_return_val_if_fail(state <= FL_STATE_INTERRUPTED, "interrupted");
	return fl_session_data_state_names[state];
}

/*
 * The msgids of the CLI's state and review words with their context, as GLib's pgettext looks
 * them up (fl-cli.c marks the same words for translation).
 */
const gchar *
fl_state_msgid(FlState state)
{
	static const gchar *const msgids[] = {
		"session state\004queued",      "session state\004running",
		"session state\004blocked",     "session state\004done",
		"session state\004failed",      "session state\004cancelled",
		"session state\004interrupted",
	};

	g_return_val_if_fail(state < G_N_ELEMENTS(msgids), msgids[FL_STATE_INTERRUPTED]);
	return fl_msg_word(msgids[state]);
}

const gchar *
fl_review_msgid(FlReview review)
{
	static const gchar *const msgids[] = {
		"review state\004none",     "review state\004pending",  "review state\004approved",
		"review state\004rejected", "review state\004reverted",
	};

	g_return_val_if_fail(review < G_N_ELEMENTS(msgids), msgids[FL_REVIEW_NONE]);
	return fl_msg_word(msgids[review]);
}

gboolean
fl_state_from_string(const gchar *s, FlState *state)
{
	for (guint i = 0; i < G_N_ELEMENTS(fl_session_data_state_names); i++) {
		if (g_strcmp0(s, fl_session_data_state_names[i]) == 0) {
			*state = (FlState)i;
			return TRUE;
		}
	}
	return FALSE;
}

const gchar *
fl_review_to_string(FlReview review)
{
	g_return_val_if_fail(review <= FL_REVIEW_REVERTED, "none");
	return fl_session_data_review_names[review];
}

gboolean
fl_review_from_string(const gchar *s, FlReview *review)
{
	for (guint i = 0; i < G_N_ELEMENTS(fl_session_data_review_names); i++) {
		if (g_strcmp0(s, fl_session_data_review_names[i]) == 0) {
			*review = (FlReview)i;
			return TRUE;
		}
	}
	return FALSE;
}

const gchar *
fl_priority_to_string(FlPriority priority)
{
	return priority > FL_PRIORITY_NORMAL   ? "high"
	       : priority < FL_PRIORITY_NORMAL ? "low"
					       : "normal";
}

gboolean
fl_priority_from_string(const gchar *s, FlPriority *priority)
{
	*priority = FL_PRIORITY_NORMAL;
	if (s == NULL || g_strcmp0(s, "normal") == 0)
		return TRUE;
	if (g_strcmp0(s, "high") == 0)
		*priority = FL_PRIORITY_HIGH;
	else if (g_strcmp0(s, "low") == 0)
		*priority = FL_PRIORITY_LOW;
	else
		return FALSE;
	return TRUE;
}

static const gchar *const fl_session_data_verify_names[] = {NULL, "pass", "fail", "timeout"};

const gchar *
fl_verify_to_string(FlVerify verify)
{
	g_return_val_if_fail(verify <= FL_VERIFY_TIMEOUT, NULL);
	return fl_session_data_verify_names[verify];
}

gboolean
fl_verify_from_string(const gchar *s, FlVerify *verify)
{
	*verify = FL_VERIFY_NONE;
	for (guint i = 1; s != NULL && i < G_N_ELEMENTS(fl_session_data_verify_names); i++) {
		if (g_strcmp0(s, fl_session_data_verify_names[i]) == 0) {
			*verify = (FlVerify)i;
			return TRUE;
		}
	}
	return FALSE;
}

static const gchar *const fl_session_data_ledger_event_names[] = {
	FL_LEDGER_EVENT_BLOCKED_NAME, FL_LEDGER_EVENT_DRAFT_NAME, FL_LEDGER_EVENT_FAILED_NAME,
	FL_LEDGER_EVENT_DISMISSED_NAME};

const gchar *
fl_ledger_event_to_string(FlLedgerEvent event)
{
	g_return_val_if_fail(event <= FL_LEDGER_EVENT_DISMISSED, FL_LEDGER_EVENT_FAILED_NAME);
	return fl_session_data_ledger_event_names[event];
}

gboolean
fl_ledger_event_from_string(const gchar *s, FlLedgerEvent *event)
{
	for (guint i = 0; i < G_N_ELEMENTS(fl_session_data_ledger_event_names); i++) {
		if (g_strcmp0(s, fl_session_data_ledger_event_names[i]) == 0) {
			*event = (FlLedgerEvent)i;
			return TRUE;
		}
	}
	return FALSE;
}

gboolean
fl_state_is_active(FlState state)
{
	return state == FL_STATE_QUEUED || state == FL_STATE_RUNNING || state == FL_STATE_BLOCKED;
}

G_DEFINE_BOXED_TYPE(FlSessionData, fl_session_data, fl_session_data_copy, fl_session_data_free)

FlSessionData *
fl_session_data_new(void)
{
	FlSessionData *d = g_new0(FlSessionData, 1);

	d->cost_usd = -1;
	return d;
}

FlSessionData *
fl_session_data_copy(const FlSessionData *d)
{
	FlSessionData *copy;

	g_return_val_if_fail(d != NULL, NULL);
	copy = g_memdup2(d, sizeof *d);
	copy->name = g_strdup(d->name);
	copy->goal = g_strdup(d->goal);
	copy->agent = g_strdup(d->agent);
	copy->repo = g_strdup(d->repo);
	copy->base = g_strdup(d->base);
	copy->base_commit = g_strdup(d->base_commit);
	copy->branch = g_strdup(d->branch);
	copy->worktree = g_strdup(d->worktree);
	copy->verify_command = g_strdup(d->verify_command);
	copy->verify_commit = g_strdup(d->verify_commit);
	copy->verify_base = g_strdup(d->verify_base);
	copy->refreshed_from = g_strdup(d->refreshed_from);
	copy->diffstat = g_strdup(d->diffstat);
	copy->links_outside = g_strdup(d->links_outside);
	copy->waiting_for = g_strdup(d->waiting_for);
	copy->final_message = g_strdup(d->final_message);
	copy->reason = g_strdup(d->reason);
	copy->merge_commit = g_strdup(d->merge_commit);
	copy->agent_session = g_strdup(d->agent_session);
	copy->confinement = g_strdup(d->confinement);
	copy->placement = g_strdup(d->placement);
	copy->group = g_strdup(d->group);
	copy->subdir = g_strdup(d->subdir);
	copy->placement_status = g_strdup(d->placement_status);
	copy->log_path = g_strdup(d->log_path);
	return copy;
}

void
fl_session_data_free(FlSessionData *d)
{
	if (d == NULL)
		return;
	g_free(d->name);
	g_free(d->goal);
	g_free(d->agent);
	g_free(d->repo);
	g_free(d->base);
	g_free(d->base_commit);
	g_free(d->branch);
	g_free(d->worktree);
	g_free(d->verify_command);
	g_free(d->verify_commit);
	g_free(d->verify_base);
	g_free(d->refreshed_from);
	g_free(d->diffstat);
	g_free(d->links_outside);
	g_free(d->waiting_for);
	g_free(d->final_message);
	g_free(d->reason);
	g_free(d->merge_commit);
	g_free(d->agent_session);
	g_free(d->confinement);
	g_free(d->placement);
	g_free(d->group);
	g_free(d->subdir);
	g_free(d->placement_status);
	g_free(d->log_path);
	g_free(d);
}

gchar *
fl_session_data_dir(const gchar *state_dir, guint id)
{
	g_autofree gchar *name = g_strdup_printf("%u", id);

	return g_build_filename(state_dir, "sessions", name, NULL);
}

static void
fl_session_data_add_str(GVariantBuilder *b, const gchar *key, const gchar *value)
{
	g_autofree gchar *clean = NULL;

	if (value == NULL)
		return;
	/* D-Bus strings must be valid UTF-8: agents and repos can hand us anything */
	clean = g_utf8_make_valid(value, -1);
	g_variant_builder_add(b, "{sv}", key, g_variant_new_string(clean));
}

static void
fl_session_data_add_time(GVariantBuilder *b, const gchar *key, gint64 t)
{
	g_autofree gchar *iso = fl_time_iso8601(t);

	fl_session_data_add_str(b, key, iso);
}

static void
fl_session_data_add_file(GVariantBuilder *b, const gchar *key, const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);

	if (g_file_test(path, G_FILE_TEST_EXISTS))
		fl_session_data_add_str(b, key, path);
}

GVariant *
fl_session_data_to_variant(const FlSessionData *d, const gchar *state_dir)
{
	g_autofree gchar *dir = fl_session_data_dir(state_dir, d->id);
	g_autofree gchar *log = d->log_path != NULL ? g_strdup(d->log_path)
						    : g_build_filename(dir, "output.log", NULL);
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&b, "{sv}", "id", g_variant_new_uint32(d->id));
	fl_session_data_add_str(&b, "name", d->name);
	fl_session_data_add_str(&b, "goal", d->goal);
	fl_session_data_add_str(&b, "agent", d->agent);
	fl_session_data_add_str(&b, "repo", d->repo);
	fl_session_data_add_str(&b, "base", d->base);
	fl_session_data_add_str(&b, "base_commit", d->base_commit);
	fl_session_data_add_str(&b, "branch", d->branch);
	fl_session_data_add_str(&b, "worktree", d->worktree);
	fl_session_data_add_str(&b, "state", fl_state_to_string(d->state));
	fl_session_data_add_str(&b, "review", fl_review_to_string(d->review));
	fl_session_data_add_time(&b, "created", d->created);
	fl_session_data_add_time(&b, "started", d->started);
	fl_session_data_add_time(&b, "finished", d->finished);
	if (d->has_exit) {
		g_variant_builder_add(&b, "{sv}", "exit_code", g_variant_new_int32(d->exit_code));
		if (d->signal != 0)
			g_variant_builder_add(&b, "{sv}", "signal", g_variant_new_int32(d->signal));
	}
	fl_session_data_add_str(&b, "verify", fl_verify_to_string(d->verify));
	fl_session_data_add_str(&b, "verify_command", d->verify_command);
	fl_session_data_add_str(&b, "verify_commit", d->verify_commit);
	/* a verify result always says which base it ran against (older rows: the one base) */
	if (d->verify != FL_VERIFY_NONE)
		fl_session_data_add_str(&b, "verify_base",
					d->verify_base != NULL ? d->verify_base : d->base_commit);
	fl_session_data_add_str(&b, "refreshed_from", d->refreshed_from);
	if (d->after != 0) {
		g_variant_builder_add(&b, "{sv}", "after", g_variant_new_uint32(d->after));
		g_variant_builder_add(&b, "{sv}", "after_done",
				      g_variant_new_boolean(d->after_done));
	}
	fl_session_data_add_str(&b, "diffstat", d->diffstat);
	fl_session_data_add_str(&b, "links_outside", d->links_outside);
	if (d->cost_usd >= 0)
		g_variant_builder_add(&b, "{sv}", "cost_usd", g_variant_new_double(d->cost_usd));
	if (d->turns > 0)
		g_variant_builder_add(&b, "{sv}", "turns", g_variant_new_uint32(d->turns));
	fl_session_data_add_str(&b, "waiting_for", d->waiting_for);
	fl_session_data_add_str(&b, "confinement", d->confinement);
	fl_session_data_add_str(&b, "final_message", d->final_message);
	if (d->reason != NULL) {
		/* kept as a message: rendered for whoever reads it, in their language (the caller
		 * of a method, the daemon's own for signals); a reason an older daemon stored
		 * reads as it was written */
		g_autofree gchar *rendered = fl_msg_render_stored(d->reason);
		g_autofree gchar *reason = fl_text_clean(rendered, -1, FL_TEXT_MULTILINE);

		fl_session_data_add_str(&b, "reason", reason);
	}
	fl_session_data_add_str(&b, "merge_commit", d->merge_commit);
	fl_session_data_add_str(&b, "placement", d->placement);
	fl_session_data_add_str(&b, "group", d->group);
	fl_session_data_add_str(&b, "priority", fl_priority_to_string(d->priority));
	fl_session_data_add_str(&b, "subdir", d->subdir);
	if (d->budget_usd > 0)
		g_variant_builder_add(&b, "{sv}", "budget_usd",
				      g_variant_new_double(d->budget_usd));
	fl_session_data_add_time(&b, "cleaned", d->cleaned);
	fl_session_data_add_str(&b, "placement_status", d->placement_status);
	/* the log is created by the runner; point at it for `flotilla log` even before (a
	 * session on a cluster: once it is submitted, when it says where) */
	if ((d->cleaned == 0 && d->state != FL_STATE_QUEUED &&
	     (d->placement == NULL || d->log_path != NULL || !fl_state_is_active(d->state))) ||
	    g_file_test(log, G_FILE_TEST_EXISTS))
		fl_session_data_add_str(&b, "log_path", log);
	fl_session_data_add_file(&b, "patch_path", dir, "draft.patch");
	fl_session_data_add_file(&b, "verify_log_path", dir, "verify.log");
	return g_variant_builder_end(&b);
}
