/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-groups.h"

#include <string.h>

#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-overlap.h"
#include "fl-util.h"

struct _FlGroups {
	GObject parent_instance;
	FlFleet *fleet;       /* (owned) */
	FlStore *store;       /* (owned) */
	GHashTable *deciding; /* group names with a decision under way */
	gulong ended_id;
};

G_DEFINE_TYPE(FlGroups, fl_groups, G_TYPE_OBJECT)

gboolean
fl_groups_name_is_valid(const gchar *name)
{
	gsize len = name != NULL ? strlen(name) : 0;

	if (len == 0 || len > 64 || !g_ascii_isalnum(name[0]))
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isalnum(name[i]) && strchr("._-", name[i]) == NULL)
			return FALSE;
	}
	return TRUE;
}

/* ------------------------------------------------------------------ decisions */

typedef struct {
	gchar *name;
	FlDecision decision;
	gchar *note; /* what each member's audit row says: "@NAME" and the user's note */
	gchar *source;
	GPtrArray *chains;  /* (element-type GPtrArray of FlSessionData) pending, per repo/base */
	guint check_next;   /* the chain being checked */
	GString *members;   /* the intent's lines, "ID DRAFT_TIP BASE_TIP" */
	GString *conflicts; /* why the group does not merge, when it does not */
	GArray *ids;        /* (element-type guint) the members to decide, in order */
	guint next;
	GString *done;   /* members decided */
	GString *failed; /* members left pending, with the reason */
	gboolean recovering;
} FlGroupsTask;

static void
fl_groups_task_free(FlGroupsTask *gt)
{
	g_free(gt->name);
	g_free(gt->note);
	g_free(gt->source);
	g_clear_pointer(&gt->chains, g_ptr_array_unref);
	g_string_free(gt->members, TRUE);
	g_string_free(gt->conflicts, TRUE);
	g_array_unref(gt->ids);
	g_string_free(gt->done, TRUE);
	g_string_free(gt->failed, TRUE);
	g_free(gt);
}

static FlGroupsTask *
fl_groups_task_new(const gchar *name, FlDecision decision, const gchar *note, const gchar *source)
{
	FlGroupsTask *gt = g_new0(FlGroupsTask, 1);

	gt->name = g_strdup(name);
	gt->decision = decision;
	gt->note = note != NULL && note[0] != '\0' ? g_strdup_printf("@%s: %s", name, note)
						   : g_strdup_printf("@%s", name);
	gt->source = g_strdup(source != NULL ? source : "cli");
	gt->members = g_string_new(NULL);
	gt->conflicts = g_string_new(NULL);
	gt->ids = g_array_new(FALSE, FALSE, sizeof(guint));
	gt->done = g_string_new(NULL);
	gt->failed = g_string_new(NULL);
	return gt;
}

static const gchar *
fl_groups_op(FlDecision decision)
{
	return decision == FL_DECISION_APPROVE ? "approve" : "reject";
}

static void
fl_groups_audit(FlGroups *self, guint id, const gchar *kind, const gchar *source, const gchar *note)
{
	g_autoptr(GError) error = NULL;

	if (!fl_store_add_event(self->store, id, kind, source, note, &error))
		g_warning("session %u: %s", id, error->message);
}

/* the group decision ended: its intent goes, the caller learns what happened */
static void
fl_groups_finish(GTask *task)
{
	FlGroups *self = g_task_get_source_object(task);
	FlGroupsTask *gt = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	if (!fl_store_group_intent_clear(self->store, gt->name, &error))
		g_warning("group %s: %s", gt->name, error->message);
	g_hash_table_remove(self->deciding, gt->name);
	if (gt->failed->len > 0 && gt->done->len > 0) {
		fl_task_return_new_error(task, FL_ERROR_CONFLICT,
					 N_("group @%s: sessions %s decided; left pending: %s"),
					 gt->name, gt->done->str, gt->failed->str);
		g_object_unref(task);
		return;
	}
	if (gt->failed->len > 0) {
		fl_task_return_new_error(task, FL_ERROR_CONFLICT,
					 N_("group @%s: nothing decided; left pending: %s"),
					 gt->name, gt->failed->str);
		g_object_unref(task);
		return;
	}
	g_task_return_pointer(task,
			      fl_msg_stored(gt->decision == FL_DECISION_APPROVE
						    ? N_("group @%s approved: sessions %s merged")
						    : N_("group @%s rejected: sessions %s dropped"),
					    gt->name, gt->done->str),
			      g_free);
	g_object_unref(task);
}

static void
fl_groups_decide_next(GTask *task);

static void
fl_groups_member_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	FlGroupsTask *gt = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *message = fl_fleet_decide_finish(FL_FLEET(source), res, &error);
	guint id = g_array_index(gt->ids, guint, gt->next);

	if (message != NULL) {
		g_string_append_printf(gt->done, "%s%u", gt->done->len > 0 ? ", " : "", id);
	} else {
		/* rolled forward past it: it stays pending, the reason is in its audit trail */
		g_string_append_printf(gt->failed, "%s%s", gt->failed->len > 0 ? "; " : "",
				       error->message);
	}
	fl_crash_point("group:member");
	gt->next++;
	fl_groups_decide_next(task);
}

static void
fl_groups_decide_next(GTask *task)
{
	FlGroups *self = g_task_get_source_object(task);
	FlGroupsTask *gt = g_task_get_task_data(task);

	if (gt->next >= gt->ids->len) {
		fl_groups_finish(task);
		return;
	}
	fl_fleet_decide_async(self->fleet, g_array_index(gt->ids, guint, gt->next), gt->decision,
			      gt->note, gt->source, NULL, fl_groups_member_cb, task);
}

/* every check passed (or none was needed): the intent, then the members one by one */
static void
fl_groups_act(GTask *task)
{
	FlGroups *self = g_task_get_source_object(task);
	FlGroupsTask *gt = g_task_get_task_data(task);
	g_autoptr(FlGroupIntent) intent = g_new0(FlGroupIntent, 1);
	GError *error = NULL;

	intent->name = g_strdup(gt->name);
	intent->op = g_strdup(fl_groups_op(gt->decision));
	intent->members = g_strdup(gt->members->str);
	intent->note = g_strdup(gt->note);
	intent->source = g_strdup(gt->source);
	if (!fl_store_group_intent_set(self->store, intent, &error)) {
		g_hash_table_remove(self->deciding, gt->name);
		g_task_return_error(task, error);
		g_object_unref(task);
		return;
	}
	fl_crash_point("group:intent");
	fl_groups_decide_next(task);
}

static void
fl_groups_check_next(GTask *task);

static void
fl_groups_chain_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	FlGroups *self = g_task_get_source_object(task);
	FlGroupsTask *gt = g_task_get_task_data(task);
	GPtrArray *chain = g_ptr_array_index(gt->chains, gt->check_next);
	const FlSessionData *first = g_ptr_array_index(chain, 0);
	GError *error = NULL;
	g_autoptr(GPtrArray) result = fl_overlap_check_finish(res, &error);

	if (result == NULL) {
		fl_prefix_error(&error, N_("group @%s: nothing merged: "), gt->name);
		g_hash_table_remove(self->deciding, gt->name);
		g_task_return_error(task, error);
		g_object_unref(task);
		return;
	}
	for (guint i = 0; i < result->len; i++) {
		const FlOverlap *o = g_ptr_array_index(result, i);
		g_autofree gchar *files = NULL;

		g_string_append_printf(gt->members, "%u %s %s\n", o->id, o->draft_tip, o->tip);
		if (o->clean)
			continue;
		files = o->conflicts != NULL ? g_strjoinv(", ", o->conflicts) : g_strdup("?");
		g_string_append_printf(gt->conflicts, "%s", gt->conflicts->len > 0 ? "; " : "");
		/* TRANSLATORS: a group member that would not merge: session, branch, repo, files */
		g_string_append_printf(gt->conflicts, _("session %u conflicts with %s in %s: %s"),
				       o->id, first->base, first->repo, files);
	}
	gt->check_next++;
	fl_groups_check_next(task);
}

/* one repository's base branch at a time, each off the main loop */
static void
fl_groups_check_next(GTask *task)
{
	FlGroups *self = g_task_get_source_object(task);
	FlGroupsTask *gt = g_task_get_task_data(task);
	GPtrArray *chain;
	GPtrArray *drafts;
	const FlSessionData *first;

	if (gt->check_next >= gt->chains->len) {
		if (gt->conflicts->len > 0) {
			for (guint i = 0; i < gt->ids->len; i++)
				fl_groups_audit(self, g_array_index(gt->ids, guint, i), "refused",
						gt->source, gt->conflicts->str);
			g_hash_table_remove(self->deciding, gt->name);
			fl_task_return_new_error(task, FL_ERROR_CONFLICT,
						 N_("group @%s: nothing merged: %s"), gt->name,
						 gt->conflicts->str);
			g_object_unref(task);
			return;
		}
		fl_groups_act(task);
		return;
	}
	chain = g_ptr_array_index(gt->chains, gt->check_next);
	first = g_ptr_array_index(chain, 0);
	drafts = g_ptr_array_new_with_free_func((GDestroyNotify)fl_overlap_draft_free);
	for (guint i = 0; i < chain->len; i++) {
		const FlSessionData *d = g_ptr_array_index(chain, i);
		g_ptr_array_add(drafts, fl_overlap_draft_new(d->id, d->branch, d->base_commit));
	}
	fl_overlap_chain_async(first->repo, first->base, drafts, NULL, fl_groups_chain_cb, task);
}

/* the pending members by repository and base branch, in id order within each */
static GPtrArray *
fl_groups_chains(GPtrArray *pending)
{
	GPtrArray *chains = g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);

	for (guint i = 0; i < pending->len; i++) {
		FlSessionData *d = g_ptr_array_index(pending, i);
		GPtrArray *chain = NULL;

		for (guint j = 0; j < chains->len && chain == NULL; j++) {
			GPtrArray *c = g_ptr_array_index(chains, j);
			const FlSessionData *f = g_ptr_array_index(c, 0);
			if (g_strcmp0(f->repo, d->repo) == 0 && g_strcmp0(f->base, d->base) == 0)
				chain = c;
		}
		if (chain == NULL) {
			chain = g_ptr_array_new_with_free_func(
				(GDestroyNotify)fl_session_data_free);
			g_ptr_array_add(chains, chain);
		}
		g_ptr_array_add(chain, fl_session_data_copy(d));
	}
	return chains;
}

void
fl_groups_decide_async(FlGroups *self, const gchar *name, FlDecision decision, const gchar *note,
		       const gchar *source, GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task;
	FlGroupsTask *gt;
	GError *error = NULL;
	g_autoptr(FlGroup) group = NULL;
	g_autoptr(GPtrArray) members = NULL;
	g_autoptr(GPtrArray) pending = g_ptr_array_new();

	g_return_if_fail(FL_IS_GROUPS(self));
	g_return_if_fail(decision == FL_DECISION_APPROVE || decision == FL_DECISION_REJECT);

	task = g_task_new(self, NULL, callback, user_data);
	gt = fl_groups_task_new(name, decision, note, source);
	g_task_set_task_data(task, gt, (GDestroyNotify)fl_groups_task_free);
	group = fl_store_get_group(self->store, name, &error);
	if (group != NULL)
		members = fl_store_get_group_members(self->store, name, &error);
	if (members == NULL) {
		g_task_return_error(task, error);
		g_object_unref(task);
		return;
	}
	if (g_hash_table_contains(self->deciding, name)) {
		fl_task_return_new_error(task, FL_ERROR_BUSY,
					 N_("group @%s is being decided already"), name);
		g_object_unref(task);
		return;
	}
	for (guint i = 0; i < members->len; i++) {
		FlSessionData *d = g_ptr_array_index(members, i);

		/* one member still working: deciding the group now would decide without it */
		if (fl_state_is_active(d->state)) {
			fl_task_return_new_error(task, FL_ERROR_BUSY,
						 N_("group @%s: session %u is still %s; nothing "
						    "decided"),
						 name, d->id, fl_state_msgid(d->state));
			g_object_unref(task);
			return;
		}
		if (d->review == FL_REVIEW_PENDING) {
			g_ptr_array_add(pending, d);
			g_array_append_val(gt->ids, d->id);
		}
	}
	if (pending->len == 0) {
		fl_task_return_new_error(
			task, FL_ERROR_ALREADY_DECIDED,
			N_("group @%s has no draft awaiting review; nothing changed"), name);
		g_object_unref(task);
		return;
	}
	g_hash_table_add(self->deciding, g_strdup(name));
	if (decision == FL_DECISION_REJECT) {
		for (guint i = 0; i < gt->ids->len; i++)
			g_string_append_printf(gt->members, "%u - -\n",
					       g_array_index(gt->ids, guint, i));
		fl_groups_act(task);
		return;
	}
	gt->chains = fl_groups_chains(pending);
	fl_groups_check_next(task);
}

gchar *
fl_groups_decide_finish(FlGroups *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(FL_IS_GROUPS(self), NULL);
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	return g_task_propagate_pointer(G_TASK(res), error);
}

static void
fl_groups_recover_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *message = fl_groups_decide_finish(FL_GROUPS(source), res, &error);
	g_autofree gchar *text = message != NULL ? fl_msg_render_stored(message) : NULL;

	g_message("%s", text != NULL ? text : error->message);
}

void
fl_groups_recover(FlGroups *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) intents = NULL;

	g_return_if_fail(FL_IS_GROUPS(self));

	intents = fl_store_get_group_intents(self->store, &error);
	if (intents == NULL) {
		g_warning("cannot read group decisions under way: %s", error->message);
		return;
	}
	for (guint i = 0; i < intents->len; i++) {
		const FlGroupIntent *intent = g_ptr_array_index(intents, i);
		FlDecision decision = g_strcmp0(intent->op, "reject") == 0 ? FL_DECISION_REJECT
									   : FL_DECISION_APPROVE;
		g_auto(GStrv) lines = g_strsplit(intent->members, "\n", -1);
		GTask *task = g_task_new(self, NULL, fl_groups_recover_done_cb, NULL);
		FlGroupsTask *gt = fl_groups_task_new(intent->name, decision, NULL, intent->source);

		g_free(gt->note);
		gt->note = g_strdup(intent->note);
		gt->recovering = TRUE;
		g_string_assign(gt->members, intent->members);
		g_task_set_task_data(task, gt, (GDestroyNotify)fl_groups_task_free);
		g_message("group %s: rolling forward the %s a previous flotillad left half-done",
			  intent->name, intent->op);
		/*
		 * the fleet's own recovery runs first (queued per repository before this), so a
		 * member merged before the crash is recorded approved by now and skipped here;
		 * the rest are decided now and refused, staying pending, if they no longer merge
		 */
		for (guint j = 0; lines[j] != NULL; j++) {
			guint id = (guint)g_ascii_strtoull(lines[j], NULL, 10);
			g_autoptr(FlSessionData) d =
				id > 0 ? fl_store_get_session(self->store, id, NULL) : NULL;
			if (d != NULL && d->review == FL_REVIEW_PENDING)
				g_array_append_val(gt->ids, id);
		}
		g_hash_table_add(self->deciding, g_strdup(intent->name));
		fl_groups_decide_next(task);
	}
}

/* ------------------------------------------------------------------ races */

static gboolean
fl_groups_is_winner(const FlSessionData *d)
{
	if (d->state != FL_STATE_DONE)
		return FALSE;
	return d->verify == FL_VERIFY_PASS ||
	       (d->verify == FL_VERIFY_NONE && d->verify_command == NULL);
}

static void
fl_groups_session_ended_cb(FlFleet *fleet, FlSessionData *d, gpointer user_data)
{
	FlGroups *self = user_data;
	g_autoptr(FlGroup) group = NULL;
	g_autoptr(GPtrArray) members = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *why = NULL;

	if (d->group == NULL)
		return;
	group = fl_store_get_group(self->store, d->group, NULL);
	if (group == NULL || g_strcmp0(group->policy, "first-wins") != 0)
		return;
	if (group->winner != 0) {
		/* a loser ended after the race was won (its cancel took effect) */
		if (d->id != group->winner && d->review == FL_REVIEW_PENDING) {
			why = fl_msg_stored(N_("#%u won the race"), group->winner);
			if (!fl_fleet_keep_alternative(self->fleet, d->id, why, &error))
				g_warning("session %u: %s", d->id, error->message);
		}
		return;
	}
	if (!fl_groups_is_winner(d))
		return;
	/* the winner first, so the ends its cancels cause find the race decided */
	group->winner = d->id;
	if (!fl_store_set_group(self->store, group, &error)) {
		g_warning("group %s: %s", group->name, error->message);
		return;
	}
	why = fl_msg_stored(N_("#%u won the race"), d->id);
	fl_groups_audit(self, d->id, "won-race", "race", group->name);
	members = fl_store_get_group_members(self->store, group->name, &error);
	if (members == NULL) {
		g_warning("group %s: %s", group->name, error->message);
		return;
	}
	for (guint i = 0; i < members->len; i++) {
		FlSessionData *m = g_ptr_array_index(members, i);

		if (m->id == d->id)
			continue;
		g_clear_error(&error);
		if (fl_state_is_active(m->state)) {
			fl_groups_audit(self, m->id, "lost-race", "race", why);
			if (!fl_fleet_cancel(self->fleet, m->id, &error))
				g_warning("session %u: %s", m->id, error->message);
		} else if (m->review == FL_REVIEW_PENDING) {
			fl_groups_audit(self, m->id, "lost-race", "race", why);
			if (!fl_fleet_keep_alternative(self->fleet, m->id, why, &error))
				g_warning("session %u: %s", m->id, error->message);
		}
	}
}

/* ------------------------------------------------------------------ describe */

GVariant *
fl_groups_describe(FlGroups *self, const gchar *name, GError **error)
{
	g_autoptr(FlGroup) group = NULL;
	g_autoptr(GPtrArray) members = NULL;
	GVariantBuilder b;
	GVariantBuilder ids;
	gboolean active = FALSE;
	gboolean pending = FALSE;
	guint approved = 0;
	guint rejected = 0;
	const gchar *state;

	g_return_val_if_fail(FL_IS_GROUPS(self), NULL);

	group = fl_store_get_group(self->store, name, error);
	if (group == NULL)
		return NULL;
	members = fl_store_get_group_members(self->store, name, error);
	if (members == NULL)
		return NULL;
	g_variant_builder_init(&ids, G_VARIANT_TYPE("au"));
	for (guint i = 0; i < members->len; i++) {
		const FlSessionData *d = g_ptr_array_index(members, i);

		g_variant_builder_add(&ids, "u", d->id);
		active |= fl_state_is_active(d->state);
		pending |= d->review == FL_REVIEW_PENDING;
		approved += d->review == FL_REVIEW_APPROVED;
		rejected += d->review == FL_REVIEW_REJECTED;
	}
	state = active                     ? "running"
		: pending                  ? "pending"
		: approved == members->len ? "approved"
		: rejected == members->len ? "rejected"
					   : "decided";
	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&b, "{sv}", "name", g_variant_new_string(group->name));
	g_variant_builder_add(&b, "{sv}", "policy", g_variant_new_string(group->policy));
	g_variant_builder_add(&b, "{sv}", "paused", g_variant_new_boolean(group->paused));
	g_variant_builder_add(&b, "{sv}", "winner", g_variant_new_uint32(group->winner));
	g_variant_builder_add(&b, "{sv}", "state", g_variant_new_string(state));
	g_variant_builder_add(&b, "{sv}", "members", g_variant_builder_end(&ids));
	return g_variant_builder_end(&b);
}

/* ------------------------------------------------------------------ object */

FlGroups *
fl_groups_new(FlFleet *fleet, FlStore *store)
{
	FlGroups *self;

	g_return_val_if_fail(FL_IS_FLEET(fleet), NULL);
	g_return_val_if_fail(FL_IS_STORE(store), NULL);

	self = g_object_new(FL_TYPE_GROUPS, NULL);
	self->fleet = g_object_ref(fleet);
	self->store = g_object_ref(store);
	self->ended_id = g_signal_connect(fleet, "session-ended",
					  G_CALLBACK(fl_groups_session_ended_cb), self);
	return self;
}

static void
fl_groups_finalize(GObject *object)
{
	FlGroups *self = FL_GROUPS(object);

	g_clear_signal_handler(&self->ended_id, self->fleet);
	g_clear_object(&self->fleet);
	g_clear_object(&self->store);
	g_hash_table_unref(self->deciding);
	G_OBJECT_CLASS(fl_groups_parent_class)->finalize(object);
}

static void
fl_groups_class_init(FlGroupsClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = fl_groups_finalize;
}

static void
fl_groups_init(FlGroups *self)
{
	self->deciding = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}
