/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-coordination.h"

#include "fl-i18n.h"

/* one base branch of one repository and the check running for it */
typedef struct {
	gchar *repo;
	gchar *base;
	gboolean running;
	gboolean again;     /* something changed during the running check */
	guint landed;       /* the session whose landing the running check follows, or 0 */
	guint landed_again; /* the same for the queued check */
} FlCoordinationBase;

struct _FlCoordination {
	GObject parent_instance;
	FlStore *store;      /* (owned) */
	GHashTable *bases;   /* "repo\nbase" → (owned) FlCoordinationBase */
	GHashTable *results; /* id → (owned) FlOverlap */
	GHashTable *since;   /* id → the session whose landing made it conflict */
	GHashTable *reviews; /* id → last seen FlReview + 1, to see transitions */
	GCancellable *cancellable;
};

G_DEFINE_TYPE(FlCoordination, fl_coordination, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, SIGNAL_IDLE, SIGNAL_LAST };
static guint fl_coordination_signals[SIGNAL_LAST] = {0};

static void
fl_coordination_base_free(FlCoordinationBase *b)
{
	g_free(b->repo);
	g_free(b->base);
	g_free(b);
}

static void
fl_coordination_run(FlCoordination *self, FlCoordinationBase *b);

gboolean
fl_coordination_is_busy(FlCoordination *self)
{
	GHashTableIter iter;
	FlCoordinationBase *b;

	g_return_val_if_fail(FL_IS_COORDINATION(self), FALSE);
	g_hash_table_iter_init(&iter, self->bases);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&b)) {
		if (b->running || b->again)
			return TRUE;
	}
	return FALSE;
}

static gboolean
fl_coordination_same_ids(GArray *a, GArray *b)
{
	if (a->len != b->len)
		return FALSE;
	for (guint i = 0; i < a->len; i++) {
		if (g_array_index(a, guint, i) != g_array_index(b, guint, i))
			return FALSE;
	}
	return TRUE;
}

/* whether a user would see a difference between two results for one draft */
static gboolean
fl_coordination_differs(const FlOverlap *old, const FlOverlap *now)
{
	if (old == NULL || now == NULL)
		return old != now;
	return old->clean != now->clean || old->stale != now->stale ||
	       g_strcmp0(old->tip, now->tip) != 0 ||
	       !fl_coordination_same_ids(old->overlaps, now->overlaps) ||
	       (old->conflicts == NULL) != (now->conflicts == NULL) ||
	       (old->conflicts != NULL && !g_strv_equal((const gchar *const *)old->conflicts,
							(const gchar *const *)now->conflicts));
}

typedef struct {
	FlCoordination *self;     /* (owned) */
	FlCoordinationBase *base; /* (unowned) lives in self->bases as long as self */
	GArray *ids;              /* (element-type guint) the drafts that were checked */
	guint landed;
} FlCoordinationCheck;

static void
fl_coordination_check_free(FlCoordinationCheck *check)
{
	g_object_unref(check->self);
	g_array_unref(check->ids);
	g_free(check);
}

static void
fl_coordination_forget(FlCoordination *self, guint id)
{
	gboolean known = g_hash_table_remove(self->results, GUINT_TO_POINTER(id));

	g_hash_table_remove(self->since, GUINT_TO_POINTER(id));
	if (known)
		g_signal_emit(self, fl_coordination_signals[SIGNAL_CHANGED], 0, id);
}

static void
fl_coordination_check_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	FlCoordinationCheck *check = user_data;
	FlCoordination *self = check->self;
	FlCoordinationBase *b = check->base;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) result = fl_overlap_check_finish(res, &error);
	g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);

	b->running = FALSE;
	if (result == NULL) {
		/* the daemon is going away, or the base branch is gone: nothing to say about it */
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_debug("overlap check of %s in %s: %s", b->base, b->repo, error->message);
		for (guint i = 0; i < check->ids->len; i++)
			fl_coordination_forget(self, g_array_index(check->ids, guint, i));
	}
	for (guint i = 0; result != NULL && i < result->len; i++) {
		FlOverlap *now = g_ptr_array_index(result, i);
		guint id = now->id;
		const FlOverlap *old = g_hash_table_lookup(self->results, GUINT_TO_POINTER(id));
		gboolean changed = fl_coordination_differs(old, now);

		g_hash_table_add(seen, GUINT_TO_POINTER(id));
		if (now->clean) {
			g_hash_table_remove(self->since, GUINT_TO_POINTER(id));
		} else if ((old == NULL || old->clean) && check->landed != 0) {
			/* it merged before this landing and does not any more */
			g_hash_table_insert(self->since, GUINT_TO_POINTER(id),
					    GUINT_TO_POINTER(check->landed));
		}
		g_ptr_array_index(result, i) = NULL;
		g_hash_table_insert(self->results, GUINT_TO_POINTER(id), now);
		if (changed)
			g_signal_emit(self, fl_coordination_signals[SIGNAL_CHANGED], 0, id);
	}
	/* drafts whose branch is gone */
	for (guint i = 0; result != NULL && i < check->ids->len; i++) {
		guint id = g_array_index(check->ids, guint, i);

		if (!g_hash_table_contains(seen, GUINT_TO_POINTER(id)))
			fl_coordination_forget(self, id);
	}
	if (b->again && !g_cancellable_is_cancelled(self->cancellable)) {
		b->again = FALSE;
		b->landed = b->landed_again;
		b->landed_again = 0;
		fl_coordination_run(self, b);
	} else if (!fl_coordination_is_busy(self)) {
		g_signal_emit(self, fl_coordination_signals[SIGNAL_IDLE], 0);
	}
	fl_coordination_check_free(check);
}

static void
fl_coordination_run(FlCoordination *self, FlCoordinationBase *b)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) pending = fl_store_get_pending(self->store, &error);
	g_autoptr(GPtrArray) drafts =
		g_ptr_array_new_with_free_func((GDestroyNotify)fl_overlap_draft_free);
	FlCoordinationCheck *check;
	GHashTableIter iter;
	gpointer key;

	if (pending == NULL) {
		g_debug("overlap check: %s", error->message);
		return;
	}
	check = g_new0(FlCoordinationCheck, 1);
	check->self = g_object_ref(self);
	check->base = b;
	check->ids = g_array_new(FALSE, FALSE, sizeof(guint));
	check->landed = b->landed;
	for (guint i = 0; i < pending->len; i++) {
		const FlSessionData *d = g_ptr_array_index(pending, i);

		if (d->branch == NULL || g_strcmp0(d->repo, b->repo) != 0 ||
		    g_strcmp0(d->base, b->base) != 0)
			continue;
		g_array_append_val(check->ids, d->id);
		g_ptr_array_add(drafts, fl_overlap_draft_new(d->id, d->branch, d->base_commit));
	}
	/* results of this base for drafts that are no longer pending */
	g_hash_table_iter_init(&iter, self->results);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		guint id = GPOINTER_TO_UINT(key);
		gboolean still = FALSE;

		for (guint i = 0; i < pending->len && !still; i++)
			still = ((const FlSessionData *)g_ptr_array_index(pending, i))->id == id;
		if (!still) {
			g_hash_table_remove(self->since, key);
			g_hash_table_iter_remove(&iter);
			g_signal_emit(self, fl_coordination_signals[SIGNAL_CHANGED], 0, id);
		}
	}
	b->running = TRUE;
	fl_overlap_check_async(b->repo, b->base, g_steal_pointer(&drafts), self->cancellable,
			       fl_coordination_check_cb, check);
}

void
fl_coordination_recheck(FlCoordination *self, const gchar *repo, const gchar *base, guint landed)
{
	g_autofree gchar *key = NULL;
	FlCoordinationBase *b;

	g_return_if_fail(FL_IS_COORDINATION(self));
	if (repo == NULL || base == NULL)
		return;
	key = g_strdup_printf("%s\n%s", repo, base);
	b = g_hash_table_lookup(self->bases, key);
	if (b == NULL) {
		b = g_new0(FlCoordinationBase, 1);
		b->repo = g_strdup(repo);
		b->base = g_strdup(base);
		g_hash_table_insert(self->bases, g_steal_pointer(&key), b);
	}
	if (b->running) {
		b->again = TRUE;
		if (landed != 0)
			b->landed_again = landed;
		return;
	}
	b->landed = landed;
	fl_coordination_run(self, b);
}

void
fl_coordination_start(FlCoordination *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) pending = NULL;

	g_return_if_fail(FL_IS_COORDINATION(self));
	pending = fl_store_get_pending(self->store, &error);
	if (pending == NULL) {
		g_debug("overlap check: %s", error->message);
		return;
	}
	for (guint i = 0; i < pending->len; i++) {
		const FlSessionData *d = g_ptr_array_index(pending, i);

		g_hash_table_insert(self->reviews, GUINT_TO_POINTER(d->id),
				    GUINT_TO_POINTER(d->review + 1));
		fl_coordination_recheck(self, d->repo, d->base, 0);
	}
}

void
fl_coordination_session_changed(FlCoordination *self, guint id, const gchar *repo,
				const gchar *base, FlReview review)
{
	gpointer before;
	FlReview old = FL_REVIEW_NONE;

	g_return_if_fail(FL_IS_COORDINATION(self));
	if (repo == NULL || base == NULL)
		return;
	before = g_hash_table_lookup(self->reviews, GUINT_TO_POINTER(id));
	if (before != NULL)
		old = (FlReview)(GPOINTER_TO_UINT(before) - 1);
	if (before != NULL && old == review)
		return;
	/* only sessions that may still become or be drafts are remembered */
	if (review == FL_REVIEW_PENDING || review == FL_REVIEW_NONE)
		g_hash_table_insert(self->reviews, GUINT_TO_POINTER(id),
				    GUINT_TO_POINTER(review + 1));
	else
		g_hash_table_remove(self->reviews, GUINT_TO_POINTER(id));
	if (review == FL_REVIEW_PENDING || old == FL_REVIEW_PENDING ||
	    review == FL_REVIEW_APPROVED || review == FL_REVIEW_REVERTED)
		fl_coordination_recheck(self, repo, base, review == FL_REVIEW_APPROVED ? id : 0);
}

const FlOverlap *
fl_coordination_lookup(FlCoordination *self, guint id)
{
	g_return_val_if_fail(FL_IS_COORDINATION(self), NULL);
	return g_hash_table_lookup(self->results, GUINT_TO_POINTER(id));
}

guint
fl_coordination_conflict_since(FlCoordination *self, guint id)
{
	g_return_val_if_fail(FL_IS_COORDINATION(self), 0);
	return GPOINTER_TO_UINT(g_hash_table_lookup(self->since, GUINT_TO_POINTER(id)));
}

void
fl_coordination_describe(FlCoordination *self, guint id, const gchar *base, GVariantDict *dict)
{
	g_autofree gchar *summary = NULL;
	const FlOverlap *o;
	guint since;

	g_return_if_fail(FL_IS_COORDINATION(self));
	o = fl_coordination_lookup(self, id);
	if (o == NULL)
		return;
	g_variant_dict_insert_value(dict, "overlaps",
				    g_variant_new_fixed_array(G_VARIANT_TYPE_UINT32,
							      o->overlaps->data, o->overlaps->len,
							      sizeof(guint32)));
	g_variant_dict_insert(dict, "merges", "b", o->clean);
	g_variant_dict_insert(dict, "stale", "b", o->stale);
	g_variant_dict_insert(dict, "checked_against", "s", o->tip);
	if (o->conflicts != NULL)
		g_variant_dict_insert_value(
			dict, "conflicts",
			g_variant_new_strv((const gchar *const *)o->conflicts, -1));
	since = fl_coordination_conflict_since(self, id);
	if (since != 0)
		g_variant_dict_insert(dict, "conflict_since", "u", since);
	summary = fl_coordination_summary(self, id, base);
	if (summary != NULL)
		g_variant_dict_insert(dict, "landing", "s", summary);
}

gchar *
fl_coordination_summary(FlCoordination *self, guint id, const gchar *base)
{
	const FlOverlap *o;
	g_autoptr(GString) ids = NULL;
	guint since;

	g_return_val_if_fail(FL_IS_COORDINATION(self), NULL);
	o = fl_coordination_lookup(self, id);
	if (o == NULL)
		return NULL;
	if (!o->clean) {
		g_autofree gchar *files =
			o->conflicts != NULL ? g_strjoinv(", ", o->conflicts) : g_strdup("");
		since = fl_coordination_conflict_since(self, id);
		if (since != 0)
			/* TRANSLATORS: "conflicts with main since #12 landed: a.c, b.c" */
			return g_strdup_printf(_("conflicts with %s since #%u landed: %s"), base,
					       since, files);
		/* TRANSLATORS: "conflicts with main: a.c, b.c" */
		return g_strdup_printf(_("conflicts with %s: %s"), base, files);
	}
	if (o->overlaps->len == 0)
		return NULL;
	ids = g_string_new(NULL);
	for (guint i = 0; i < o->overlaps->len; i++)
		g_string_append_printf(ids, "%s#%u", i > 0 ? ", " : "",
				       g_array_index(o->overlaps, guint, i));
	/* TRANSLATORS: "changes the same files as #4, #7" */
	return g_strdup_printf(_("changes the same files as %s"), ids->str);
}

FlCoordination *
fl_coordination_new(FlStore *store)
{
	FlCoordination *self = g_object_new(FL_TYPE_COORDINATION, NULL);

	self->store = g_object_ref(store);
	return self;
}

static void
fl_coordination_dispose(GObject *object)
{
	FlCoordination *self = FL_COORDINATION(object);

	g_cancellable_cancel(self->cancellable);
	G_OBJECT_CLASS(fl_coordination_parent_class)->dispose(object);
}

static void
fl_coordination_finalize(GObject *object)
{
	FlCoordination *self = FL_COORDINATION(object);

	g_clear_object(&self->store);
	g_hash_table_unref(self->bases);
	g_hash_table_unref(self->results);
	g_hash_table_unref(self->since);
	g_hash_table_unref(self->reviews);
	g_clear_object(&self->cancellable);
	G_OBJECT_CLASS(fl_coordination_parent_class)->finalize(object);
}

static void
fl_coordination_class_init(FlCoordinationClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = fl_coordination_dispose;
	object_class->finalize = fl_coordination_finalize;
	fl_coordination_signals[SIGNAL_CHANGED] =
		g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
			     NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
	fl_coordination_signals[SIGNAL_IDLE] =
		g_signal_new("idle", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
			     NULL, G_TYPE_NONE, 0);
}

static void
fl_coordination_init(FlCoordination *self)
{
	self->bases = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					    (GDestroyNotify)fl_coordination_base_free);
	self->results = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)fl_overlap_free);
	self->since = g_hash_table_new(NULL, NULL);
	self->reviews = g_hash_table_new(NULL, NULL);
	self->cancellable = g_cancellable_new();
}
