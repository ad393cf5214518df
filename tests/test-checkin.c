/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Check-ins end to end: the real daemon and CLI on a private bus, real git repositories with
 * drafts made by `flotilla run`, and real notification servers on that bus: python-dbusmock's
 * notification_daemon template (inspected through its call log, driven by EmitSignal) and
 * dunst under Xvfb, whose context menu invokes the Approve action like a user would.
 */
#include "config.h"

#include <fcntl.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "fl-test-harness.h"

#define WAIT_MS 30000

#define NOTIFY_NAME  "org.freedesktop.Notifications"
#define NOTIFY_PATH  "/org/freedesktop/Notifications"
#define NOTIFY_IFACE "org.freedesktop.Notifications"
#define MOCK_IFACE   "org.freedesktop.DBus.Mock"
#define FL_NAME      "io.github.flotilla.Flotilla1"
#define FL_PATH      "/io/github/flotilla/Flotilla1"

/* ------------------------------------------------------------------ world */

/* a schedule whose next check-in is half a day away: only `checkin --now` delivers here */
static gchar *
far_config(const gchar *extra)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autoptr(GDateTime) later = g_date_time_add_hours(now, 12);
	g_autofree gchar *at = g_date_time_format(later, "%H:%M");

	return g_strdup_printf("[checkin]\ntimes=%s\n%s", at, extra != NULL ? extra : "");
}

static FlTestEnv *
env_new(const gchar *extra_config)
{
	g_autofree gchar *config = far_config(extra_config);

	return fl_test_env_new(config);
}

static gchar *
make_repo(FlTestEnv *env, const gchar *name)
{
	gchar *repo = g_build_filename(env->root, name, NULL);

	g_assert_cmpint(g_mkdir_with_parents(repo, 0700), ==, 0);
	g_free(fl_test_sh(repo, "git init -q -b main . && git config user.name 'Test User' && "
				"git config user.email test@example.com && "
				"printf 'line one\\nline two\\n' > notes.txt && "
				"git add notes.txt && git commit -q -m initial"));
	return repo;
}

static void
wait_ended(FlTestEnv *env, guint id, const gchar *state)
{
	g_autofree gchar *got = fl_test_wait_ended(env, id, WAIT_MS);

	g_assert_cmpstr(got, ==, state);
}

static GVariant *
get_session(FlTestEnv *env, guint id)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
		env->conn, FL_NAME, FL_PATH, FL_NAME, "GetSession", g_variant_new("(u)", id),
		G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, 5000, NULL, &error);

	g_assert_no_error(error);
	return g_variant_get_child_value(reply, 0);
}

static gchar *
get_review(FlTestEnv *env, guint id)
{
	g_autoptr(GVariant) props = get_session(env, id);
	const gchar *review = NULL;

	g_assert_true(g_variant_lookup(props, "review", "&s", &review));
	return g_strdup(review);
}

typedef struct {
	FlTestEnv *env;
	guint id;
	const gchar *review;
	guint seen;
	gboolean asked;
} ReviewWait;

static gboolean
review_cond(gpointer user_data)
{
	ReviewWait *w = user_data;
	g_autofree gchar *review = NULL;

	/* ask again only after a SessionChanged signal */
	if (w->asked && w->seen == w->env->changes)
		return FALSE;
	w->asked = TRUE;
	w->seen = w->env->changes;
	review = get_review(w->env, w->id);
	return g_strcmp0(review, w->review) == 0;
}

static void
assert_review(FlTestEnv *env, guint id, const gchar *want)
{
	g_autofree gchar *review = get_review(env, id);

	g_assert_cmpstr(review, ==, want);
}

static void
wait_review(FlTestEnv *env, guint id, const gchar *review)
{
	ReviewWait w = {env, id, review, 0, FALSE};
	g_autofree gchar *got = NULL;

	if (fl_test_wait_for(review_cond, &w, WAIT_MS))
		return;
	got = get_review(env, id);
	g_assert_cmpstr(got, ==, review);
}

/* how many audit events of @kind from @source the session has (D-Bus GetEvents) */
static guint
count_events(FlTestEnv *env, guint id, const gchar *kind, const gchar *source)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
		env->conn, FL_NAME, FL_PATH, FL_NAME, "GetEvents", g_variant_new("(u)", id),
		G_VARIANT_TYPE("(a(ssss))"), G_DBUS_CALL_FLAGS_NO_AUTO_START, 5000, NULL, &error);
	g_autoptr(GVariantIter) iter = NULL;
	const gchar *ekind;
	const gchar *esource;
	guint n = 0;

	g_assert_no_error(error);
	g_variant_get(reply, "(a(ssss))", &iter);
	while (g_variant_iter_next(iter, "(&s&s&s&s)", NULL, &ekind, &esource, NULL)) {
		if (g_strcmp0(ekind, kind) == 0 &&
		    (source == NULL || g_strcmp0(esource, source) == 0))
			n++;
	}
	return n;
}

static guint
count_decisions(FlTestEnv *env, guint id)
{
	return count_events(env, id, "approved", NULL) + count_events(env, id, "rejected", NULL) +
	       count_events(env, id, "refused", NULL);
}

/* the two drafts (#1 plain, #2 with a passing verify) and a failure (#3) most tests use */
static void
make_fleet(FlTestEnv *env, const gchar *repo)
{
	guint a = fl_test_run_session(env, repo, "--name", "plain-draft", "--", "echo a > a.txt",
				      NULL);
	guint b = fl_test_run_session(env, repo, "--name", "verified-draft", "--verify",
				      "test -f b.txt", "--", "echo b > b.txt", NULL);
	guint c = fl_test_run_session(env, repo, "--name", "broken-build", "--",
				      "echo boom >&2; exit 3", NULL);

	g_assert_cmpuint(a, ==, 1);
	g_assert_cmpuint(b, ==, 2);
	g_assert_cmpuint(c, ==, 3);
	wait_ended(env, a, "done");
	wait_ended(env, b, "done");
	wait_ended(env, c, "failed");
}

/* kills helper servers with the test process, even when an assertion aborts it */
static void
die_with_parent(gpointer user_data)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

static void
stop_process(GSubprocess **proc)
{
	if (*proc == NULL)
		return;
	g_subprocess_send_signal(*proc, SIGTERM);
	g_subprocess_wait(*proc, NULL, NULL);
	g_clear_object(proc);
}

static void
name_appeared_cb(GDBusConnection *conn, const gchar *name, const gchar *owner, gpointer user_data)
{
	gchar **out = user_data;

	g_free(*out);
	*out = g_strdup(owner);
}

static void
name_vanished_cb(GDBusConnection *conn, const gchar *name, gpointer user_data)
{
	gchar **out = user_data;

	g_clear_pointer(out, g_free);
}

static gboolean
str_set_cond(gpointer user_data)
{
	return *(gchar **)user_data != NULL;
}

static gboolean
str_unset_cond(gpointer user_data)
{
	return *(gchar **)user_data == NULL;
}

/* waits until @name has an owner on the env's bus, or no owner with @gone; returns the owner */
static gchar *
wait_name(FlTestEnv *env, const gchar *name, gboolean gone)
{
	gchar *owner = NULL;
	guint watch =
		g_bus_watch_name_on_connection(env->conn, name, G_BUS_NAME_WATCHER_FLAGS_NONE,
					       name_appeared_cb, name_vanished_cb, &owner, NULL);
	gboolean ok;

	/* the first callback reports the current owner: wait for it before judging */
	ok = fl_test_wait_for(gone ? str_unset_cond : str_set_cond, &owner, WAIT_MS);
	g_bus_unwatch_name(watch);
	g_assert_true(ok);
	return owner;
}

static gint64
usec_since(gint64 start)
{
	return g_get_monotonic_time() - start;
}

/* ------------------------------------------------------------------ the dbusmock server */

typedef struct {
	FlTestEnv *env;
	GSubprocess *proc;
	gchar *owner;
	guint sub_id;
	guint signals; /* MethodCalled signals seen */
} Mock;

typedef struct {
	gchar *app_name;
	guint32 replaces_id;
	guint32 id; /* what the mock answered */
	gchar *summary;
	gchar *body;
	gchar **actions;
	GVariant *hints; /* a{sv} */
	gint32 timeout;
} NotifyCall;

static void
notify_call_free(NotifyCall *call)
{
	g_free(call->app_name);
	g_free(call->summary);
	g_free(call->body);
	g_strfreev(call->actions);
	g_clear_pointer(&call->hints, g_variant_unref);
	g_free(call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NotifyCall, notify_call_free)

static void
mock_method_called_cb(GDBusConnection *conn, const gchar *sender, const gchar *path,
		      const gchar *iface, const gchar *signal, GVariant *params, gpointer user_data)
{
	Mock *mock = user_data;

	mock->signals++;
}

static void
mock_spawn(Mock *mock, const gchar *const *argv)
{
	g_autoptr(GSubprocessLauncher) launcher =
		g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	g_autoptr(GError) error = NULL;

	g_subprocess_launcher_set_environ(launcher, mock->env->envp);
	g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
	mock->proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
	g_assert_no_error(error);
	mock->owner = wait_name(mock->env, NOTIFY_NAME, FALSE);
}

static Mock *
mock_new(FlTestEnv *env)
{
	Mock *mock = g_new0(Mock, 1);

	mock->env = env;
	/* every call the mock logs emits MethodCalled: the event the waits below wake up on */
	mock->sub_id = g_dbus_connection_signal_subscribe(
		env->conn, NULL, MOCK_IFACE, "MethodCalled", NOTIFY_PATH, NULL,
		G_DBUS_SIGNAL_FLAGS_NONE, mock_method_called_cb, mock, NULL);
	return mock;
}

/* python-dbusmock's notification_daemon template with @caps, on the env's bus */
static Mock *
mock_start(FlTestEnv *env, const gchar *caps)
{
	Mock *mock = mock_new(env);
	g_autofree gchar *params = g_strdup_printf("{\"capabilities\": \"%s\"}", caps);
	g_autofree gchar *log = g_build_filename(env->root, "mock.log", NULL);
	const gchar *argv[] = {g_getenv("FL_TEST_PYTHON"),
			       "-m",
			       "dbusmock",
			       "--template",
			       "notification_daemon",
			       "--parameters",
			       params,
			       "--logfile",
			       log,
			       NULL};

	if (argv[0] == NULL)
		argv[0] = "/usr/bin/python3";
	mock_spawn(mock, argv);
	return mock;
}

static void
mock_stop(Mock *mock)
{
	if (mock->proc != NULL) {
		stop_process(&mock->proc);
		g_free(wait_name(mock->env, NOTIFY_NAME, TRUE));
	}
}

static void
mock_free(Mock *mock)
{
	mock_stop(mock);
	g_dbus_connection_signal_unsubscribe(mock->env->conn, mock->sub_id);
	g_free(mock->owner);
	g_free(mock);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Mock, mock_free)

static GVariant *
mock_call(Mock *mock, const gchar *method, GVariant *params, const gchar *reply_type)
{
	g_autoptr(GError) error = NULL;
	GVariant *reply = g_dbus_connection_call_sync(
		mock->env->conn, NOTIFY_NAME, NOTIFY_PATH, MOCK_IFACE, method, params,
		reply_type != NULL ? G_VARIANT_TYPE(reply_type) : NULL,
		G_DBUS_CALL_FLAGS_NO_AUTO_START, 5000, NULL, &error);

	g_assert_no_error(error);
	return reply;
}

/* the arguments of every logged call of @method, as an array of av */
static GPtrArray *
mock_method_calls(Mock *mock, const gchar *method)
{
	g_autoptr(GVariant) reply =
		mock_call(mock, "GetMethodCalls", g_variant_new("(s)", method), "(a(tav))");
	g_autoptr(GVariant) calls = g_variant_get_child_value(reply, 0);
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);

	for (gsize i = 0; i < g_variant_n_children(calls); i++) {
		g_autoptr(GVariant) call = g_variant_get_child_value(calls, i);
		g_ptr_array_add(out, g_variant_get_child_value(call, 1));
	}
	return out;
}

static guint
mock_count(Mock *mock, const gchar *method)
{
	g_autoptr(GPtrArray) calls = mock_method_calls(mock, method);

	return calls->len;
}

static GVariant *
unbox_arg(GVariant *args, gsize i)
{
	g_autoptr(GVariant) boxed = g_variant_get_child_value(args, i);

	return g_variant_get_variant(boxed);
}

/* every Notify the mock got, with the id it answered (its counter starts at 1) */
static GPtrArray *
mock_notifies(Mock *mock)
{
	g_autoptr(GPtrArray) calls = mock_method_calls(mock, "Notify");
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)notify_call_free);
	guint32 next_id = 1;

	for (guint i = 0; i < calls->len; i++) {
		GVariant *args = g_ptr_array_index(calls, i);
		NotifyCall *call = g_new0(NotifyCall, 1);
		g_autoptr(GVariant) app = unbox_arg(args, 0);
		g_autoptr(GVariant) replaces = unbox_arg(args, 1);
		g_autoptr(GVariant) summary = unbox_arg(args, 3);
		g_autoptr(GVariant) body = unbox_arg(args, 4);
		g_autoptr(GVariant) actions = unbox_arg(args, 5);
		g_autoptr(GVariant) timeout = unbox_arg(args, 7);

		g_assert_cmpuint(g_variant_n_children(args), ==, 8);
		call->app_name = g_variant_dup_string(app, NULL);
		call->replaces_id = g_variant_get_uint32(replaces);
		call->id = call->replaces_id != 0 ? call->replaces_id : next_id++;
		call->summary = g_variant_dup_string(summary, NULL);
		call->body = g_variant_dup_string(body, NULL);
		call->actions = g_variant_dup_strv(actions, NULL);
		call->hints = unbox_arg(args, 6);
		call->timeout = g_variant_get_int32(timeout);
		g_ptr_array_add(out, call);
	}
	return out;
}

typedef struct {
	Mock *mock;
	const gchar *method;
	guint want;
	guint seen;
	gboolean asked;
} CallWait;

static gboolean
calls_cond(gpointer user_data)
{
	CallWait *w = user_data;

	if (w->asked && w->seen == w->mock->signals)
		return FALSE;
	w->asked = TRUE;
	w->seen = w->mock->signals;
	return mock_count(w->mock, w->method) >= w->want;
}

/* waits (on MethodCalled) until the mock got @want calls of @method */
static void
mock_wait_calls(Mock *mock, const gchar *method, guint want)
{
	CallWait w = {mock, method, want, 0, FALSE};

	if (!fl_test_wait_for(calls_cond, &w, WAIT_MS))
		g_assert_cmpuint(mock_count(mock, method), >=, want);
}

/* the @n-th Notify (1-based), waiting for it */
static NotifyCall *
mock_wait_notify(Mock *mock, guint n)
{
	g_autoptr(GPtrArray) calls = NULL;

	mock_wait_calls(mock, "Notify", n);
	calls = mock_notifies(mock);
	g_test_message("Notify #%u: replaces %u, summary '%s', body '%s'", n,
		       ((NotifyCall *)calls->pdata[n - 1])->replaces_id,
		       ((NotifyCall *)calls->pdata[n - 1])->summary,
		       ((NotifyCall *)calls->pdata[n - 1])->body);
	return g_ptr_array_steal_index(calls, n - 1);
}

static void
mock_emit(Mock *mock, const gchar *signal, const gchar *signature, GVariant *arg0, GVariant *arg1)
{
	GVariant *args[] = {g_variant_new_variant(arg0), g_variant_new_variant(arg1)};
	g_autoptr(GVariant) reply =
		mock_call(mock, "EmitSignal",
			  g_variant_new("(sss@av)", NOTIFY_IFACE, signal, signature,
					g_variant_new_array(G_VARIANT_TYPE_VARIANT, args, 2)),
			  NULL);
}

static void
mock_action(Mock *mock, guint32 id, const gchar *key)
{
	mock_emit(mock, "ActionInvoked", "us", g_variant_new_uint32(id), g_variant_new_string(key));
}

static gboolean
strv_equal(gchar **got, const gchar *const *want)
{
	g_autofree gchar *a = g_strjoinv("|", got);
	g_autofree gchar *b = g_strjoinv("|", (gchar **)want);

	if (g_strcmp0(a, b) != 0)
		g_test_message("actions: got %s, wanted %s", a, b);
	return g_strcmp0(a, b) == 0;
}

static const gchar *
hint_str(NotifyCall *call, const gchar *key)
{
	const gchar *value = NULL;

	if (!g_variant_lookup(call->hints, key, "&s", &value))
		return NULL;
	return value;
}

/* ------------------------------------------------------------------ tests */

/* moves an open digest past the failure #3 of make_fleet(); returns the next notification */
static NotifyCall *
skip_failure(Mock *mock, NotifyCall *call, guint n)
{
	g_assert_true(g_strv_contains((const gchar *const *)call->actions, "next:3"));
	mock_action(mock, call->id, "next:3");
	return mock_wait_notify(mock, n);
}

static void
test_digest_walk(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) first = NULL;
	g_autoptr(NotifyCall) second = NULL;
	g_autoptr(NotifyCall) third = NULL;
	g_autoptr(NotifyCall) last = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *label = NULL;
	g_autofree gchar *branches = NULL;
	const gchar *want_first[] = {"default", "Open review", "retry:3", "Retry", "dismiss:3",
				     "Dismiss", "next:3",      "Next",    NULL};
	const gchar *want_second[] = {"default",  "Open review", "approve:2", "Approve",
				      "reject:2", "Reject",      NULL};

	fl_test_env_start_daemon(env, NULL);
	make_fleet(env, repo);
	mock = mock_start(env, "body body-markup actions persistence");

	out = fl_test_cli_ok(env, NULL, "checkin", "--now", NULL);
	g_assert_nonnull(strstr(out, "2 drafts"));
	first = mock_wait_notify(mock, 1);
	g_assert_cmpuint(first->replaces_id, ==, 0);
	/* "Check-in 15:00 · 1 failed · 2 drafts": most urgent first */
	g_assert_true(g_str_has_prefix(first->summary, "Check-in "));
	label = g_strndup(first->summary + strlen("Check-in "), 5);
	g_assert_true(g_ascii_isdigit(label[0]) && label[2] == ':');
	g_assert_nonnull(strstr(first->summary, " · 1 failed · 2 drafts"));
	/* the most urgent item in full (the failure), the others one line each */
	g_assert_nonnull(strstr(first->body, "<b>#3 broken-build</b>"));
	g_assert_nonnull(strstr(first->body, "failed: "));
	g_assert_nonnull(strstr(first->body, "1 of 3"));
	g_assert_nonnull(strstr(first->body, "#2 draft ✓ verified-draft"));
	g_assert_nonnull(strstr(first->body, "#1 draft plain-draft"));
	g_assert_true(strstr(first->body, "#2 draft") < strstr(first->body, "#1 draft"));
	g_assert_null(strstr(first->body, "reminder"));
	g_assert_true(strv_equal(first->actions, want_first));
	g_assert_cmpstr(hint_str(first, "desktop-entry"), ==, "io.github.flotilla.Flotilla1");
	g_assert_cmpstr(first->app_name, ==, "Flotilla");

	/* Next: seen, not decided; it leaves the walk and the header counts what is left */
	second = skip_failure(mock, first, 2);
	g_assert_cmpuint(second->replaces_id, ==, first->id);
	g_assert_nonnull(strstr(second->summary, " · 2 drafts"));
	g_assert_null(strstr(second->summary, "failed"));
	g_assert_null(strstr(second->body, "broken-build"));
	g_assert_nonnull(strstr(second->body, "<b>#2 verified-draft</b>"));
	g_assert_nonnull(strstr(second->body, "verify: passed"));
	g_assert_nonnull(strstr(second->body, "1 of 2"));
	g_assert_true(strv_equal(second->actions, want_second));
	g_assert_cmpuint(count_decisions(env, 3), ==, 0);

	/* Approve from the notification: the same path as the CLI, recorded as such */
	mock_action(mock, first->id, "approve:2");
	wait_review(env, 2, "approved");
	log = fl_test_git(repo, "log -1 --format=%s main");
	g_assert_nonnull(strstr(log, "Merge flotilla session 2"));
	g_assert_cmpuint(count_events(env, 2, "approved", "notification"), ==, 1);
	g_assert_cmpuint(count_events(env, 2, "approved", "cli"), ==, 0);

	/* the same notification moves on; the decided draft is gone from it, not listed as
	 * "(approved)", and the header recounts */
	third = mock_wait_notify(mock, 3);
	g_assert_cmpuint(third->replaces_id, ==, first->id);
	g_assert_nonnull(strstr(third->body, "<b>#1 plain-draft</b>"));
	g_assert_null(strstr(third->body, "of 1"));
	g_assert_null(strstr(third->body, "verified-draft"));
	g_assert_null(strstr(third->body, "reminder"));
	/* what the last decision did, said once on top */
	g_assert_nonnull(strstr(third->body, "approved"));
	g_assert_true(g_str_has_suffix(third->summary, " · 1 draft"));
	g_assert_cmpuint(g_strv_length(third->actions), ==, 6);
	g_assert_cmpstr(third->actions[2], ==, "approve:1");
	g_assert_cmpstr(third->actions[4], ==, "reject:1");

	/* rejecting the last draft ends the walk */
	mock_action(mock, first->id, "reject:1");
	wait_review(env, 1, "rejected");
	g_assert_cmpuint(count_events(env, 1, "rejected", "notification"), ==, 1);
	branches = fl_test_git(repo, "branch --list flotilla/1");
	g_assert_cmpstr(branches, ==, "");
	last = mock_wait_notify(mock, 4);
	g_assert_cmpuint(last->replaces_id, ==, first->id);
	g_assert_nonnull(strstr(last->summary, "All reviewed"));
	g_assert_nonnull(strstr(last->body, "#3 skipped"));
	g_assert_nonnull(strstr(last->body, "#2 approved"));
	g_assert_nonnull(strstr(last->body, "#1 rejected"));
	g_assert_cmpuint(g_strv_length(last->actions), ==, 0);

	/* everything was announced: the next check-in has nothing to say */
	g_free(out);
	out = fl_test_cli_ok(env, NULL, "checkin", "--preview", NULL);
	g_assert_nonnull(strstr(out, "Nothing awaits"));
}

static void
test_stale_keys(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) first = NULL;
	g_autoptr(NotifyCall) second = NULL;
	g_autofree gchar *merges = NULL;
	g_autoptr(NotifyCall) shown = NULL;

	fl_test_env_start_daemon(env, NULL);
	make_fleet(env, repo);
	mock = mock_start(env, "body body-markup actions");
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	shown = mock_wait_notify(mock, 1);
	/* Next on another item than the one shown decides and skips nothing */
	mock_action(mock, shown->id, "next:2");
	mock_action(mock, shown->id, "next:3junk");
	first = skip_failure(mock, shown, 2);
	g_assert_cmpuint(g_strv_length(first->actions), ==, 6);
	g_assert_cmpstr(first->actions[2], ==, "approve:2");

	/* a key for a session the buttons are not about, garbage, another notification's
	 * buttons: none of it decides anything */
	mock_action(mock, first->id, "approve:1");
	mock_action(mock, first->id, "reject:3");
	mock_action(mock, first->id, "approve:99");
	mock_action(mock, first->id, "approve:");
	mock_action(mock, first->id, "approve:2junk");
	mock_action(mock, first->id, "garbage");
	mock_action(mock, first->id + 7, "approve:2");
	mock_action(mock, first->id + 7, "reject:2");
	/* the real button, pressed twice in a row: one decision; it also orders the checks */
	mock_action(mock, first->id, "reject:2");
	mock_action(mock, first->id, "reject:2");
	wait_review(env, 2, "rejected");
	second = mock_wait_notify(mock, 3);
	g_assert_nonnull(strstr(second->body, "<b>#1 plain-draft</b>"));

	/* the stale button of the decided draft, on the updated notification */
	mock_action(mock, first->id, "approve:2");
	/* a last real decision orders everything sent before it */
	mock_action(mock, first->id, "reject:1");
	wait_review(env, 1, "rejected");
	g_assert_cmpuint(count_events(env, 2, "rejected", "notification"), ==, 1);
	g_assert_cmpuint(count_decisions(env, 2), ==, 1);
	g_assert_cmpuint(count_decisions(env, 1), ==, 1);
	g_assert_cmpuint(count_decisions(env, 3), ==, 0);
	merges = fl_test_git(repo, "rev-list --merges --count main");
	g_assert_cmpstr(merges, ==, "0");
}

static void
test_close_is_no_decision(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) first = NULL;
	g_autoptr(NotifyCall) again = NULL;
	g_autoptr(NotifyCall) fresh = NULL;
	g_autoptr(GPtrArray) calls = NULL;
	g_autofree gchar *preview = NULL;
	guint n;

	fl_test_env_start_daemon(env, NULL);
	make_fleet(env, repo);
	mock = mock_start(env, "body body-markup actions");
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	first = mock_wait_notify(mock, 1);

	/* dismissed by the user: seen, not decided */
	mock_emit(mock, "NotificationClosed", "uu", g_variant_new_uint32(first->id),
		  g_variant_new_uint32(2));
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	again = mock_wait_notify(mock, 2);
	g_assert_nonnull(strstr(again->body, "<b>#2 verified-draft</b>"));
	g_assert_nonnull(strstr(again->body, "(reminder)"));
	/* the failure was announced once: it does not come back */
	g_assert_null(strstr(again->body, "broken-build"));
	g_assert_nonnull(strstr(again->summary, "2 drafts"));
	g_assert_null(strstr(again->summary, "failed"));
	g_assert_cmpuint(count_decisions(env, 1), ==, 0);
	g_assert_cmpuint(count_decisions(env, 2), ==, 0);
	assert_review(env, 1, "pending");

	/* the ledger is in the store: a restarted daemon knows what it announced */
	fl_test_env_stop_daemon(env, SIGTERM);
	fl_test_env_start_daemon(env, NULL);
	preview = fl_test_cli_ok(env, NULL, "checkin", "--preview", NULL);
	g_assert_nonnull(strstr(preview, "(reminder)"));
	g_assert_null(strstr(preview, "broken-build"));
	calls = mock_notifies(mock);
	n = calls->len;
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	fresh = mock_wait_notify(mock, n + 1);
	g_assert_cmpuint(fresh->replaces_id, ==, 0);
	g_assert_nonnull(strstr(fresh->body, "(reminder)"));
	g_assert_cmpuint(count_decisions(env, 1), ==, 0);
	g_assert_cmpuint(count_decisions(env, 2), ==, 0);
}

static void
test_no_actions_server(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) call = NULL;
	g_autoptr(GPtrArray) all = NULL;

	fl_test_env_start_daemon(env, NULL);
	make_fleet(env, repo);
	/* neither actions nor body-markup */
	mock = mock_start(env, "body");
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	call = mock_wait_notify(mock, 1);
	g_assert_cmpuint(g_strv_length(call->actions), ==, 0);
	g_assert_nonnull(strstr(call->body, "flotilla review"));
	g_assert_nonnull(strstr(call->body, "#3 broken-build"));
	g_assert_nonnull(strstr(call->body, "#2 draft ✓ verified-draft"));
	g_assert_null(strstr(call->body, "<b>"));
	/* plain text: the failure's goal keeps its ">&2" unescaped */
	g_assert_nonnull(strstr(call->body, "echo boom >&2"));
	g_assert_null(strstr(call->body, "&gt;"));
	g_assert_nonnull(strstr(call->summary, "1 failed · 2 drafts"));
	/* a decision made elsewhere still updates the digest: no buttons appear */
	g_free(fl_test_cli_ok(env, NULL, "approve", "2", NULL));
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	all = mock_notifies(mock);
	for (guint i = 0; i < all->len; i++) {
		NotifyCall *c = g_ptr_array_index(all, i);
		g_assert_cmpuint(g_strv_length(c->actions), ==, 0);
	}
}

static void
test_no_server_then_server(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) call = NULL;
	g_autoptr(NotifyCall) next = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *status = NULL;
	gint64 start;

	fl_test_env_start_daemon(env, NULL);
	make_fleet(env, repo);
	/* nobody owns org.freedesktop.Notifications: the CLI still answers at once */
	start = g_get_monotonic_time();
	out = fl_test_cli_ok(env, NULL, "checkin", "--now", NULL);
	g_assert_cmpint(usec_since(start), <, 5 * G_USEC_PER_SEC);
	g_assert_nonnull(strstr(out, "2 drafts"));
	status = fl_test_cli_ok(env, NULL, "status", NULL);

	/* the digest waited for a server */
	mock = mock_start(env, "body body-markup actions");
	call = mock_wait_notify(mock, 1);
	g_assert_cmpuint(call->replaces_id, ==, 0);
	g_assert_nonnull(strstr(call->summary, "1 failed · 2 drafts"));
	g_assert_nonnull(strstr(call->body, "#3 broken-build"));
	/* written for this server: it has buttons */
	g_assert_null(strstr(call->body, "flotilla review"));
	g_assert_cmpuint(g_strv_length(call->actions), ==, 8);
	next = skip_failure(mock, call, 2);
	g_assert_cmpuint(g_strv_length(next->actions), ==, 6);
	g_assert_cmpstr(next->actions[2], ==, "approve:2");
	mock_action(mock, call->id, "approve:2");
	wait_review(env, 2, "approved");
	g_assert_cmpuint(count_events(env, 2, "approved", "notification"), ==, 1);
}

static void
test_server_restart(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(Mock) mock = NULL;
	g_autoptr(Mock) mock2 = NULL;
	g_autoptr(NotifyCall) first = NULL;
	g_autoptr(NotifyCall) fresh = NULL;
	g_autoptr(NotifyCall) asks = NULL;
	g_autoptr(NotifyCall) asks_again = NULL;
	g_autoptr(NotifyCall) failure = NULL;
	g_autoptr(NotifyCall) draft = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	make_fleet(env, repo);
	mock = mock_start(env, "body body-markup actions");
	id = fl_test_run_session(env, repo, "--name", "asking", "--",
				 "flotilla blocked 'which db?'", NULL);
	g_assert_true(fl_test_wait_state(env, id, "blocked", WAIT_MS));
	asks = mock_wait_notify(mock, 1);
	g_assert_nonnull(strstr(asks->summary, "needs input"));
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	first = mock_wait_notify(mock, 2);
	g_assert_nonnull(strstr(first->summary, "1 blocked"));
	mock_stop(mock);

	/* a new server knows nothing of the old ids: what is still open is posted afresh */
	mock2 = mock_start(env, "body body-markup actions");
	asks_again = mock_wait_notify(mock2, 1);
	g_assert_cmpuint(asks_again->replaces_id, ==, 0);
	g_assert_cmpstr(asks_again->summary, ==, asks->summary);
	g_assert_nonnull(strstr(asks_again->body, "which db?"));
	fresh = mock_wait_notify(mock2, 2);
	g_assert_cmpuint(fresh->replaces_id, ==, 0);
	g_assert_cmpstr(fresh->summary, ==, first->summary);
	/* the question first, answered from there too */
	g_assert_nonnull(strstr(fresh->body, "<b>#4 asking</b>"));
	g_assert_cmpuint(g_strv_length(fresh->actions), ==, 6);
	g_assert_true(g_str_has_prefix(fresh->actions[2], "reply:4:"));
	g_assert_cmpstr(fresh->actions[4], ==, "next:4");
	mock_action(mock2, fresh->id, "next:4");
	failure = mock_wait_notify(mock2, 3);
	g_assert_nonnull(strstr(failure->body, "<b>#3 broken-build</b>"));
	draft = skip_failure(mock2, failure, 4);
	g_assert_cmpstr(draft->actions[2], ==, "approve:2");
	mock_action(mock2, fresh->id, "approve:2");
	wait_review(env, 2, "approved");
	g_assert_cmpuint(count_events(env, 2, "approved", "notification"), ==, 1);
}

static void
test_many_items(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) call = NULL;
	g_autofree gchar *config = far_config(NULL);
	g_autofree gchar *unlimited = g_strdup_printf("%s[fleet]\nmax-unreviewed=0\n", config);
	guint ids[7];

	fl_test_env_write_config(env, unlimited);
	fl_test_env_start_daemon(env, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autofree gchar *goal = g_strdup_printf("echo %u > f%u.txt", i, i);
		ids[i] = fl_test_run_session(env, repo, "--", goal, NULL);
	}
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++)
		wait_ended(env, ids[i], "done");
	mock = mock_start(env, "body body-markup actions");
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	call = mock_wait_notify(mock, 1);
	g_assert_nonnull(strstr(call->summary, "7 drafts"));
	/* the current one in full, five one-liners, then the count of the rest */
	g_assert_nonnull(strstr(call->body, "<b>#1 echo 0 &gt; f0.txt</b>"));
	g_assert_nonnull(strstr(call->body, "1 of 7"));
	g_assert_nonnull(strstr(call->body, "\n#2 draft echo 1 &gt; f1.txt"));
	g_assert_nonnull(strstr(call->body, "\n#6 draft echo 5 &gt; f5.txt"));
	g_assert_null(strstr(call->body, "#7"));
	g_assert_true(g_str_has_suffix(call->body, "\n+1 more"));
}

static void
test_default_opens_review(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *marker = g_build_filename(env->root, "review-opened", NULL);
	g_autofree gchar *script = NULL;
	g_autofree gchar *quoted = NULL;
	g_autofree gchar *extra = NULL;
	g_autofree gchar *config = NULL;
	g_autofree gchar *contents = NULL;
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) call = NULL;
	guint id;

	/* what a terminal running `flotilla review` would need: the same bus */
	script = g_strdup_printf("echo \"$DBUS_SESSION_BUS_ADDRESS\" > \"%s.tmp\" && "
				 "mv \"%s.tmp\" \"%s\"",
				 marker, marker, marker);
	quoted = g_shell_quote(script);
	extra = g_strdup_printf("review-command=sh -c %s\n", quoted);
	config = far_config(extra);
	fl_test_env_write_config(env, config);
	fl_test_env_start_daemon(env, NULL);
	id = fl_test_run_session(env, repo, "--", "echo a > a.txt", NULL);
	wait_ended(env, id, "done");
	mock = mock_start(env, "body body-markup actions");
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	call = mock_wait_notify(mock, 1);
	g_assert_cmpuint(g_strv_length(call->actions), >=, 2);
	g_assert_cmpstr(call->actions[0], ==, "default");

	/* a click on the notification opens the review; it decides nothing */
	mock_action(mock, call->id, "default");
	g_assert_true(fl_test_wait_file(marker, WAIT_MS));
	g_assert_true(g_file_get_contents(marker, &contents, NULL, NULL));
	g_assert_cmpstr(g_strstrip(contents), ==, g_test_dbus_get_bus_address(env->bus));
	g_assert_cmpuint(count_decisions(env, id), ==, 0);
	assert_review(env, id, "pending");
}

static void
test_blocked_and_failed_now(void)
{
	g_autoptr(FlTestEnv) env = env_new("now=blocked;failed\n");
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) asks = NULL;
	g_autoptr(NotifyCall) failed = NULL;
	guchar urgency = 0;
	guint id;
	guint id2;

	fl_test_env_start_daemon(env, NULL);
	mock = mock_start(env, "body body-markup actions");
	id = fl_test_run_session(env, repo, "--name", "migrate-db", "--",
				 "r=$(flotilla blocked 'which db?') && echo \"$r\" > db.txt", NULL);
	g_assert_true(fl_test_wait_state(env, id, "blocked", WAIT_MS));

	/* at once, not at the next check-in */
	asks = mock_wait_notify(mock, 1);
	g_assert_nonnull(strstr(asks->summary, "#1"));
	g_assert_nonnull(strstr(asks->summary, "needs input"));
	g_assert_nonnull(strstr(asks->body, "migrate-db"));
	g_assert_nonnull(strstr(asks->body, "which db?"));
	g_assert_cmpstr(hint_str(asks, "desktop-entry"), ==, "io.github.flotilla.Flotilla1");
	g_assert_true(g_variant_lookup(asks->hints, "urgency", "y", &urgency));
	g_assert_cmpuint(urgency, ==, 2);

	/* answered from the CLI: the question is withdrawn */
	g_free(fl_test_cli_ok(env, NULL, "reply", "1", "postgres", NULL));
	mock_wait_calls(mock, "CloseNotification", 1);
	wait_ended(env, id, "done");

	/* now=…;failed: a failure is announced at once too */
	id2 = fl_test_run_session(env, repo, "--name", "flaky-tests", "--",
				  "echo 'FAIL: test_login' >&2; exit 1", NULL);
	wait_ended(env, id2, "failed");
	failed = mock_wait_notify(mock, 2);
	g_assert_nonnull(strstr(failed->summary, "#2"));
	g_assert_nonnull(strstr(failed->summary, "failed"));
	g_assert_nonnull(strstr(failed->body, "flaky-tests"));
}

/*
 * Notifications are in the desktop session's language (the daemon's), whatever language the
 * CLI that led to them speaks: a German daemon, an English CLI. The CLI's own replies are
 * English, the digest its call delivered and the notifications after its decisions German.
 */
static void
test_session_language(void)
{
	g_autoptr(FlTestEnv) env = env_new("now=failed\n");
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) failure = NULL;
	g_autoptr(NotifyCall) digest = NULL;
	g_autoptr(NotifyCall) after = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *approved = NULL;
	gint status;
	g_autofree gchar *err = NULL;

	fl_test_env_use_locales(env);
	env->envp = g_environ_setenv(env->envp, "LC_ALL", "de_DE.UTF-8", TRUE);
	fl_test_env_start_daemon(env, NULL);
	env->envp = g_environ_setenv(env->envp, "LC_ALL", "C.UTF-8", TRUE);
	mock = mock_start(env, "body body-markup actions");
	make_fleet(env, repo);
	failure = mock_wait_notify(mock, 1);
	g_assert_cmpstr(failure->summary, ==, "Sitzung #3 ist fehlgeschlagen");

	/* the digest this call delivers is German, the text it answers English */
	text = fl_test_cli_ok(env, NULL, "checkin", "--now", NULL);
	g_assert_nonnull(strstr(text, "2 drafts"));
	digest = mock_wait_notify(mock, 2);
	g_assert_nonnull(strstr(digest->summary, "2 Entwürfe"));
	g_assert_true(g_strv_contains((const gchar *const *)digest->actions, "Durchsicht öffnen"));

	/* a decision from the English CLI: the digest after it German, a refusal English */
	approved = fl_test_cli_ok(env, NULL, "approve", "2", NULL);
	after = mock_wait_notify(mock, 3);
	g_assert_null(strstr(after->summary, "draft"));
	g_assert_nonnull(strstr(after->summary, "1 Entwurf"));
	status = fl_test_cli(env, NULL, NULL, &err, "reject", "2", NULL);
	g_assert_cmpint(status, ==, 1);
	g_assert_nonnull(strstr(err, "already approved"));
}

/* a shell session's stand-in for Claude's PermissionRequest hook: asks to run `make @what` */
static gchar *
permission_script(const gchar *what)
{
	return g_strdup_printf(
		"echo '{\"session_id\":\"s\",\"hook_event_name\":\"PermissionRequest\","
		"\"tool_name\":\"Bash\",\"tool_input\":{\"command\":\"make %s\"}}' | "
		"flotilla hook claude; echo; ",
		what);
}

typedef struct {
	Mock *mock;
	guint from;        /* 1-based: the first Notify looked at */
	const gchar *text; /* in its summary */
	guint seen;
	gboolean asked;
	NotifyCall *found;
} NotifyFind;

static gboolean
notify_find_cond(gpointer user_data)
{
	NotifyFind *f = user_data;
	g_autoptr(GPtrArray) calls = NULL;

	if (f->asked && f->seen == f->mock->signals)
		return FALSE;
	f->asked = TRUE;
	f->seen = f->mock->signals;
	calls = mock_notifies(f->mock);
	for (guint i = f->from - 1; i < calls->len; i++) {
		NotifyCall *call = g_ptr_array_index(calls, i);
		if (strstr(call->summary, f->text) != NULL) {
			f->found = g_ptr_array_steal_index(calls, i);
			return TRUE;
		}
	}
	return FALSE;
}

/* the first Notify from the @from-th on whose summary has @text, waiting for it */
static NotifyCall *
mock_find_notify(Mock *mock, guint from, const gchar *text)
{
	NotifyFind f = {mock, from, text, 0, FALSE, NULL};

	if (!fl_test_wait_for(notify_find_cond, &f, WAIT_MS))
		g_error("no notification saying '%s'", text);
	g_test_message("found: summary '%s', body '%s'", f.found->summary, f.found->body);
	return f.found;
}

/*
 * Allow and Deny on the "needs input" notification answer the permission request it shows,
 * through the same path and audit as `flotilla approve`/`reject`; a second press, or a press
 * after the question changed, answers nothing and says so.
 */
static void
test_answer_permission(void)
{
	g_autoptr(FlTestEnv) env = env_new("now=blocked\n");
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *first_script = permission_script("first");
	g_autofree gchar *second_script = permission_script("second");
	g_autofree gchar *script = g_strconcat(first_script, second_script, "echo finished", NULL);
	g_autofree gchar *allow = NULL;
	g_autofree gchar *deny = NULL;
	g_autofree gchar *log = NULL;
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) first = NULL;
	g_autoptr(NotifyCall) second = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	mock = mock_start(env, "body body-markup actions");
	id = fl_test_run_session(env, repo, "--name", "build-it", "--", script, NULL);
	g_assert_true(fl_test_wait_state(env, id, "blocked", WAIT_MS));

	first = mock_find_notify(mock, 1, "needs input");
	g_assert_nonnull(strstr(first->body, "asks: permission: make first"));
	/* what to type where no button is pressed */
	g_assert_nonnull(strstr(first->body, "flotilla approve 1"));
	g_assert_cmpuint(g_strv_length(first->actions), ==, 8);
	g_assert_cmpstr(first->actions[0], ==, "default");
	g_assert_true(g_str_has_prefix(first->actions[2], "allow:1:"));
	g_assert_cmpstr(first->actions[3], ==, "Allow");
	g_assert_true(g_str_has_prefix(first->actions[4], "deny:1:"));
	g_assert_cmpstr(first->actions[5], ==, "Deny");
	g_assert_true(g_str_has_prefix(first->actions[6], "reply:1:"));
	g_assert_cmpstr(first->actions[7], ==, "Reply");
	allow = g_strdup(first->actions[2]);
	deny = g_strdup(first->actions[4]);

	/* Allow, pressed twice: one answer */
	mock_action(mock, first->id, allow);
	mock_action(mock, first->id, allow);
	second = mock_find_notify(mock, 2, "needs input");
	g_assert_nonnull(strstr(second->body, "asks: permission: make second"));
	g_assert_cmpuint(g_strv_length(second->actions), ==, 8);
	g_assert_cmpstr(second->actions[2], !=, allow);
	g_assert_cmpuint(count_events(env, id, "allowed", "notification"), ==, 1);

	/* the first question's Deny, pressed late: not a no to the second question */
	mock_action(mock, first->id, deny);
	mock_action(mock, second->id, deny);
	/* the second question's own Deny answers it */
	mock_action(mock, second->id, second->actions[4]);
	wait_ended(env, id, "done");
	g_assert_cmpuint(count_events(env, id, "allowed", "notification"), ==, 1);
	g_assert_cmpuint(count_events(env, id, "denied", "notification"), ==, 1);
	g_assert_cmpuint(count_events(env, id, "allowed", "cli"), ==, 0);
	/* the hook printed what the agent was told: yes to the first, no to the second */
	log = fl_test_cli_ok(env, NULL, "log", "1", NULL);
	g_assert_nonnull(strstr(log, "\"allow\""));
	g_assert_nonnull(strstr(log, "\"deny\""));
	g_assert_true(strstr(log, "\"allow\"") < strstr(log, "\"deny\""));
	g_assert_nonnull(strstr(log, "finished"));
	/* withdrawn once answered */
	mock_wait_calls(mock, "CloseNotification", 2);
}

typedef struct {
	FlTestEnv *env;
	guint id;
	guint seen;
	gboolean asked;
} AsksWait;

/* the session waits on its second permission request */
static gboolean
asks_second_cond(gpointer user_data)
{
	AsksWait *w = user_data;
	g_autoptr(GVariant) props = NULL;
	const gchar *asks = NULL;

	/* ask again only after a SessionChanged signal */
	if (w->asked && w->seen == w->env->changes)
		return FALSE;
	w->asked = TRUE;
	w->seen = w->env->changes;
	props = get_session(w->env, w->id);
	return g_variant_lookup(props, "waiting_for", "&s", &asks) &&
	       strstr(asks, "make second") != NULL;
}

/*
 * The digest shows a blocked session first, answered from there too; its Allow pressed after
 * the question was answered elsewhere (and another asked) answers nothing, and says so.
 */
static void
test_digest_answer(void)
{
	g_autoptr(FlTestEnv) env = env_new("now=none\n");
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *first_script = permission_script("first");
	g_autofree gchar *second_script = permission_script("second");
	g_autofree gchar *script = g_strconcat(first_script, second_script, "echo finished", NULL);
	g_autofree gchar *stale_allow = NULL;
	g_autofree gchar *log = NULL;
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) digest = NULL;
	g_autoptr(NotifyCall) refused = NULL;
	g_autoptr(NotifyCall) again = NULL;
	g_autoptr(NotifyCall) done = NULL;
	AsksWait w = {env, 2, 0, FALSE};
	guint draft;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	draft = fl_test_run_session(env, repo, "--name", "a-draft", "--", "echo a > a.txt", NULL);
	wait_ended(env, draft, "done");
	mock = mock_start(env, "body body-markup actions");
	id = fl_test_run_session(env, repo, "--name", "build-it", "--", script, NULL);
	g_assert_true(fl_test_wait_state(env, id, "blocked", WAIT_MS));

	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	digest = mock_wait_notify(mock, 1);
	/* the question before the draft, in full, with the command that answers it */
	g_assert_nonnull(strstr(digest->summary, " · 1 blocked · 1 draft"));
	g_assert_true(g_str_has_prefix(digest->body, "<b>#2 build-it</b>"));
	g_assert_nonnull(strstr(digest->body, "asks: permission: make first"));
	g_assert_nonnull(strstr(digest->body, "flotilla approve 2 (allow)"));
	g_assert_nonnull(strstr(digest->body, "#1 draft a-draft"));
	g_assert_cmpuint(g_strv_length(digest->actions), ==, 10);
	g_assert_true(g_str_has_prefix(digest->actions[2], "allow:2:"));
	g_assert_true(g_str_has_prefix(digest->actions[4], "deny:2:"));
	g_assert_true(g_str_has_prefix(digest->actions[6], "reply:2:"));
	g_assert_cmpstr(digest->actions[8], ==, "next:2");
	stale_allow = g_strdup(digest->actions[2]);

	/* answered from the CLI; the session asks again */
	g_free(fl_test_cli_ok(env, NULL, "reject", "2", NULL));
	g_assert_true(fl_test_wait_for(asks_second_cond, &w, WAIT_MS));
	/* the digest's Allow was for the first question: refused, visibly */
	mock_action(mock, digest->id, stale_allow);
	refused = mock_find_notify(mock, 2, "not answered");
	g_assert_nonnull(strstr(refused->summary, "#2"));
	g_assert_nonnull(strstr(refused->body, "already answered or has changed"));
	g_assert_true(fl_test_wait_state(env, id, "blocked", 0));
	g_assert_cmpuint(count_events(env, id, "allowed", NULL), ==, 0);

	/* a new digest shows the new question; its Allow answers it and the walk moves on */
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	again = mock_find_notify(mock, 3, "Check-in");
	g_assert_nonnull(strstr(again->body, "make second"));
	g_assert_cmpstr(again->actions[2], !=, stale_allow);
	mock_action(mock, again->id, again->actions[2]);
	wait_ended(env, id, "done");
	g_assert_cmpuint(count_events(env, id, "allowed", "notification"), ==, 1);
	g_assert_cmpuint(count_events(env, id, "denied", "cli"), ==, 1);
	done = mock_find_notify(mock, 4, "1 draft");
	g_assert_true(g_str_has_prefix(done->body, "<i>"));
	g_assert_nonnull(strstr(done->body, "<b>#1 a-draft</b>"));
	g_assert_null(strstr(done->body, "build-it"));
	log = fl_test_cli_ok(env, NULL, "log", "2", NULL);
	g_assert_true(strstr(log, "\"deny\"") < strstr(log, "\"allow\""));
}

/* `flotilla CMD ID…` exits @status with one line on stderr that has @text */
static void
assert_cli_fails(FlTestEnv *env, gint status, const gchar *text, const gchar *cmd, const gchar *arg)
{
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	gint got = fl_test_cli(env, NULL, &out, &err, cmd, arg, NULL);

	g_test_message("%s %s: %d %s", cmd, arg != NULL ? arg : "", got, err);
	g_assert_cmpint(got, ==, status);
	g_assert_nonnull(strstr(err, text));
	/* one line, nothing on stdout */
	g_assert_true(g_str_has_suffix(err, "\n"));
	g_assert_true(strchr(err, '\n') == err + strlen(err) - 1);
	g_assert_cmpstr(out, ==, "");
}

/*
 * `flotilla dismiss`: a failure the user has seen leaves review and the digest, with an audit
 * row; a draft awaiting review needs reject; unknown ids and bad usage are exit 2.
 */
static void
test_dismiss(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *out = NULL;
	g_autofree gchar *preview = NULL;
	g_autofree gchar *after = NULL;
	g_autoptr(JsonObject) failed = NULL;
	g_autoptr(JsonObject) draft = NULL;
	guint blocked;

	fl_test_env_start_daemon(env, NULL);
	make_fleet(env, repo);
	preview = fl_test_cli_ok(env, NULL, "checkin", "--preview", NULL);
	g_assert_nonnull(strstr(preview, "broken-build"));

	assert_cli_fails(env, 1, "reject it instead", "dismiss", "1");
	assert_cli_fails(env, 2, "99", "dismiss", "99");
	assert_cli_fails(env, 2, "session id", "dismiss", NULL);
	assert_cli_fails(env, 2, "abc", "dismiss", "abc");
	blocked = fl_test_run_session(env, repo, "--", "flotilla blocked 'go on?'", NULL);
	g_assert_true(fl_test_wait_state(env, blocked, "blocked", WAIT_MS));
	assert_cli_fails(env, 1, "blocked", "dismiss", "4");
	g_assert_cmpuint(count_events(env, 1, "dismissed", NULL), ==, 0);
	g_assert_cmpuint(count_events(env, 4, "dismissed", NULL), ==, 0);

	out = fl_test_cli_ok(env, NULL, "dismiss", "3", NULL);
	g_assert_nonnull(strstr(out, "Session 3 dismissed"));
	g_assert_cmpuint(count_events(env, 3, "dismissed", "cli"), ==, 1);
	/* twice is once */
	g_free(fl_test_cli_ok(env, NULL, "dismiss", "3", NULL));
	g_assert_cmpuint(count_events(env, 3, "dismissed", NULL), ==, 1);
	failed = fl_test_show(env, 3);
	g_assert_true(json_object_get_boolean_member_with_default(failed, "dismissed", FALSE));
	g_assert_cmpstr(json_object_get_string_member(failed, "state"), ==, "failed");
	draft = fl_test_show(env, 1);
	g_assert_false(json_object_get_boolean_member_with_default(draft, "dismissed", FALSE));

	/* gone from what awaits the user; the drafts stay */
	after = fl_test_cli_ok(env, NULL, "checkin", "--preview", NULL);
	g_assert_null(strstr(after, "broken-build"));
	g_assert_nonnull(strstr(after, "verified-draft"));
	g_assert_null(strstr(after, "failed"));
	g_free(fl_test_cli_ok(env, NULL, "cancel", "4", NULL));
	wait_ended(env, blocked, "cancelled");
	g_free(fl_test_cli_ok(env, NULL, "dismiss", "4", NULL));
	g_assert_cmpuint(count_events(env, 4, "dismissed", "cli"), ==, 1);
}

/* a failure in the digest offers Retry and Dismiss, the same fleet code as the commands */
static void
test_digest_retry_dismiss(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) first = NULL;
	g_autoptr(NotifyCall) second = NULL;
	g_autoptr(NotifyCall) third = NULL;
	g_autoptr(JsonObject) shown = NULL;
	g_autoptr(JsonObject) retried = NULL;
	const gchar *want[] = {"default", "Open review", "retry:3", "Retry", "dismiss:3",
			       "Dismiss", "next:3",      "Next",    NULL};
	guint other;

	fl_test_env_start_daemon(env, NULL);
	make_fleet(env, repo);
	other = fl_test_run_session(env, repo, "--name", "flaky", "--", "exit 4", NULL);
	wait_ended(env, other, "failed");
	mock = mock_start(env, "body body-markup actions");
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	first = mock_wait_notify(mock, 1);
	g_assert_nonnull(strstr(first->summary, " · 2 failed · 2 drafts"));
	g_assert_nonnull(strstr(first->body, "<b>#3 broken-build</b>"));
	g_assert_true(strv_equal(first->actions, want));

	/* Dismiss: recorded as from the notification, gone from the walk and the count */
	mock_action(mock, first->id, "dismiss:3");
	second = mock_wait_notify(mock, 2);
	g_assert_cmpuint(count_events(env, 3, "dismissed", "notification"), ==, 1);
	shown = fl_test_show(env, 3);
	g_assert_true(json_object_get_boolean_member_with_default(shown, "dismissed", FALSE));
	g_assert_nonnull(strstr(second->summary, " · 1 failed · 2 drafts"));
	g_assert_null(strstr(second->body, "broken-build"));
	g_assert_nonnull(strstr(second->body, "<b>#4 flaky</b>"));
	g_assert_cmpstr(second->actions[2], ==, "retry:4");
	/* a stale Dismiss for the item no longer shown does nothing */
	mock_action(mock, first->id, "dismiss:3");
	mock_action(mock, first->id, "retry:3");

	/* Retry: a new session like `flotilla retry`, linked to the old */
	mock_action(mock, first->id, "retry:4");
	third = mock_wait_notify(mock, 3);
	g_assert_nonnull(strstr(third->body, "runs again as session 5"));
	g_assert_nonnull(strstr(third->summary, " · 2 drafts"));
	g_assert_null(strstr(third->summary, "failed"));
	g_assert_nonnull(strstr(third->body, "<b>#2 verified-draft</b>"));
	wait_ended(env, 5, "failed");
	retried = fl_test_show(env, 5);
	g_assert_cmpstr(json_object_get_string_member(retried, "goal"), ==, "exit 4");
	g_assert_cmpstr(json_object_get_string_member(retried, "name"), ==, "flaky");
	g_assert_cmpuint(count_events(env, 4, "retried-as", NULL), ==, 1);
	g_assert_cmpuint(count_events(env, 5, "retry-of", NULL), ==, 1);
	/* one press, one session */
	g_assert_cmpuint(count_events(env, 3, "retried-as", NULL), ==, 0);
	g_assert_cmpuint(count_events(env, 3, "dismissed", NULL), ==, 1);
}

/* Reply on a question opens the review in a terminal; it answers nothing by itself */
static void
test_answer_reply(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *marker = g_build_filename(env->root, "review-opened", NULL);
	g_autofree gchar *script = NULL;
	g_autofree gchar *quoted = NULL;
	g_autofree gchar *extra = NULL;
	g_autofree gchar *config = NULL;
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) asks = NULL;
	guint id;

	script = g_strdup_printf("touch \"%s\"", marker);
	quoted = g_shell_quote(script);
	extra = g_strdup_printf("now=blocked\nreview-command=sh -c %s\n", quoted);
	config = far_config(extra);
	fl_test_env_write_config(env, config);
	fl_test_env_start_daemon(env, NULL);
	mock = mock_start(env, "body body-markup actions");
	id = fl_test_run_session(env, repo, "--",
				 "r=$(flotilla blocked 'which db?') && echo \"$r\"", NULL);
	g_assert_true(fl_test_wait_state(env, id, "blocked", WAIT_MS));
	asks = mock_find_notify(mock, 1, "needs input");
	/* a question, not a permission: no yes/no buttons, and the command to answer it */
	g_assert_cmpuint(g_strv_length(asks->actions), ==, 4);
	g_assert_true(g_str_has_prefix(asks->actions[2], "reply:1:"));
	g_assert_nonnull(strstr(asks->body, "flotilla reply 1"));
	mock_action(mock, asks->id, asks->actions[2]);
	g_assert_true(fl_test_wait_file(marker, WAIT_MS));
	g_assert_true(fl_test_wait_state(env, id, "blocked", 0));
	g_free(fl_test_cli_ok(env, NULL, "reply", "1", "postgres", NULL));
	wait_ended(env, id, "done");
	g_assert_cmpuint(count_events(env, id, "allowed", NULL), ==, 0);
}

static void
test_hung_server(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *marker = g_build_filename(env->root, "notify-called", NULL);
	g_autofree gchar *code = NULL;
	g_autofree gchar *out = NULL;
	g_autoptr(Mock) mock = mock_new(env);
	g_autoptr(GVariant) r1 = NULL;
	g_autoptr(GVariant) r2 = NULL;
	g_autoptr(GVariant) r3 = NULL;
	const gchar *argv[] = {g_getenv("FL_TEST_PYTHON") != NULL ? g_getenv("FL_TEST_PYTHON")
								  : "/usr/bin/python3",
			       "-m",
			       "dbusmock",
			       NOTIFY_NAME,
			       NOTIFY_PATH,
			       NOTIFY_IFACE,
			       NULL};
	gint64 start;
	gint64 took;

	/* a server that answers the questions about itself, then hangs in Notify; it is set
	 * up before the daemon starts, so the daemon never sees it half-made */
	mock_spawn(mock, argv);
	code = g_strdup_printf("open('%s', 'w').close()\ntime.sleep(3600)\nret = 1", marker);
	r1 = mock_call(mock, "AddMethod",
		       g_variant_new("(sssss)", "", "GetServerInformation", "", "ssss",
				     "ret = ('hung', 'test', '1.0', '1.2')"),
		       NULL);
	r2 = mock_call(mock, "AddMethod",
		       g_variant_new("(sssss)", "", "GetCapabilities", "", "as",
				     "ret = ['body', 'body-markup', 'actions']"),
		       NULL);
	r3 = mock_call(mock, "AddMethod",
		       g_variant_new("(sssss)", "", "Notify", "susssasa{sv}i", "u", code), NULL);

	fl_test_env_start_daemon(env, NULL);
	make_fleet(env, repo);
	out = fl_test_cli_ok(env, NULL, "checkin", "--now", NULL);
	g_assert_true(fl_test_wait_file(marker, WAIT_MS));

	/* Notify hangs in the server: the daemon still answers at once */
	start = g_get_monotonic_time();
	g_free(out);
	out = fl_test_cli_ok(env, NULL, "status", NULL);
	took = usec_since(start);
	g_test_message("flotilla status took %" G_GINT64_FORMAT " µs", took);
	g_assert_cmpint(took, <, G_USEC_PER_SEC);
	g_assert_nonnull(strstr(out, "next check-in"));

	start = g_get_monotonic_time();
	g_free(out);
	out = fl_test_cli_ok(env, NULL, "checkin", "--now", NULL);
	g_assert_cmpint(usec_since(start), <, G_USEC_PER_SEC);
	g_assert_nonnull(strstr(out, "2 drafts"));

	/* decisions go on too */
	start = g_get_monotonic_time();
	g_free(out);
	out = fl_test_cli_ok(env, NULL, "reject", "1", NULL);
	g_assert_cmpint(usec_since(start), <, 5 * G_USEC_PER_SEC);
}

static void
test_preview_and_empty(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) info = NULL;
	g_autoptr(NotifyCall) later = NULL;
	g_autofree gchar *preview = NULL;
	g_autofree gchar *preview2 = NULL;
	g_autofree gchar *empty = NULL;
	g_autofree gchar *now = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	make_fleet(env, repo);
	mock = mock_start(env, "body body-markup actions");

	preview = fl_test_cli_ok(env, NULL, "checkin", "--preview", NULL);
	g_assert_nonnull(strstr(preview, "1 failed · 2 drafts"));
	g_assert_nonnull(strstr(preview, "#1 plain-draft"));
	g_assert_nonnull(strstr(preview, "#2 verified-draft"));
	g_assert_nonnull(strstr(preview, "#3 broken-build"));
	g_assert_nonnull(strstr(preview, "verify: passed"));
	/* most urgent first */
	g_assert_true(strstr(preview, "#3 broken-build") < strstr(preview, "#2 verified-draft"));
	g_assert_true(strstr(preview, "#2 verified-draft") < strstr(preview, "#1 plain-draft"));
	/* a preview announces nothing */
	preview2 = fl_test_cli_ok(env, NULL, "checkin", "--preview", NULL);
	g_assert_cmpstr(preview, ==, preview2);
	g_assert_null(strstr(preview2, "reminder"));

	/* decided from the CLI; the failure still has to be told once */
	g_free(fl_test_cli_ok(env, NULL, "approve", "2", NULL));
	g_free(fl_test_cli_ok(env, NULL, "reject", "1", NULL));
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	/* the first Notify: neither preview sent one */
	info = mock_wait_notify(mock, 1);
	g_assert_nonnull(strstr(info->summary, "1 failed"));
	g_assert_null(strstr(info->summary, "draft"));
	g_assert_nonnull(strstr(info->body, "#3 broken-build"));
	g_assert_nonnull(strstr(info->body, "failed: exit"));
	/* nothing to decide: retry it, let it go, or move on */
	g_assert_cmpuint(g_strv_length(info->actions), ==, 8);
	g_assert_cmpstr(info->actions[0], ==, "default");
	g_assert_cmpstr(info->actions[2], ==, "retry:3");
	g_assert_cmpstr(info->actions[6], ==, "next:3");

	/* empty: nothing is shown */
	empty = fl_test_cli_ok(env, NULL, "checkin", "--preview", NULL);
	g_assert_nonnull(strstr(empty, "Nothing awaits"));
	now = fl_test_cli_ok(env, NULL, "checkin", "--now", NULL);
	g_assert_nonnull(strstr(now, "Nothing awaits"));
	/* a later digest is the very next Notify: the empty one sent none */
	id = fl_test_run_session(env, repo, "--name", "later", "--", "echo l > l.txt", NULL);
	wait_ended(env, id, "done");
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	later = mock_wait_notify(mock, 2);
	g_assert_nonnull(strstr(later->body, "#4 later"));
	g_assert_cmpuint(mock_count(mock, "Notify"), ==, 2);
}

/* a long digest prints its most urgent items in full and counts the rest; delivering it
 * still announces every item, shown or not */
static void
test_preview_long(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *scratch = g_build_filename(env->root, "scratch", NULL);
	g_autoptr(Mock) mock = NULL;
	g_autofree gchar *preview = NULL;
	g_autofree gchar *now = NULL;
	g_autofree gchar *after = NULL;
	guint ids[12];

	g_assert_cmpint(g_mkdir_with_parents(scratch, 0700), ==, 0);
	fl_test_env_start_daemon(env, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autofree gchar *name = g_strdup_printf("fail-%02u", i + 1);
		ids[i] = fl_test_run_session(env, scratch, "--name", name, "--", "exit 3", NULL);
	}
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++)
		wait_ended(env, ids[i], "failed");

	preview = fl_test_cli_ok(env, NULL, "checkin", "--preview", NULL);
	g_assert_nonnull(strstr(preview, "· 12 failed\n"));
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autofree gchar *title = g_strdup_printf("#%u fail-%02u\n", ids[i], i + 1);
		if (i < 10)
			g_assert_nonnull(strstr(preview, title));
		else
			g_assert_null(strstr(preview, title));
	}
	g_assert_true(g_str_has_suffix(preview, "\n… and 2 more\n"));

	mock = mock_start(env, "body body-markup actions");
	now = fl_test_cli_ok(env, NULL, "checkin", "--now", NULL);
	g_assert_true(g_str_has_suffix(now, "\n… and 2 more\n"));
	notify_call_free(mock_wait_notify(mock, 1));
	/* announced failures are not repeated: the two the text left out went out too */
	after = fl_test_cli_ok(env, NULL, "checkin", "--preview", NULL);
	g_assert_nonnull(strstr(after, "Nothing awaits"));
}

static void
test_review_cli(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
		G_SUBPROCESS_FLAGS_STDERR_PIPE);
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *log = NULL;
	const gchar *argv[] = {g_getenv("FLOTILLA"), "review", NULL};
	guint a, b;

	fl_test_env_start_daemon(env, NULL);
	a = fl_test_run_session(env, repo, "--name", "plain-draft", "--", "echo a > a.txt", NULL);
	b = fl_test_run_session(env, repo, "--name", "verified-draft", "--verify", "test -f b.txt",
				"--", "echo b > b.txt", NULL);
	wait_ended(env, a, "done");
	wait_ended(env, b, "done");

	/* the same items in the same order as the digest; stdin ends after one answer */
	g_subprocess_launcher_set_environ(launcher, env->envp);
	g_subprocess_launcher_set_cwd(launcher, env->root);
	proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
	g_assert_no_error(error);
	g_subprocess_communicate_utf8(proc, "a\n", NULL, &out, &err, &error);
	g_assert_no_error(error);
	g_test_message("review: %s%s", out, err);
	g_assert_true(g_subprocess_get_if_exited(proc));
	g_assert_cmpint(g_subprocess_get_exit_status(proc), ==, 0);
	g_assert_nonnull(strstr(out, "#2 (1 of 2)"));
	g_assert_nonnull(strstr(out, "#1 (2 of 2)"));

	assert_review(env, b, "approved");
	g_assert_cmpuint(count_events(env, b, "approved", "cli"), ==, 1);
	assert_review(env, a, "pending");
	log = fl_test_git(repo, "log -1 --format=%s main");
	g_assert_nonnull(strstr(log, "Merge flotilla session 2"));
}

/*
 * The review walks the most urgent first and offers what fits each item: yes/no/reply on a
 * permission request, retry/dismiss/log on a failure, approve/reject/diff on a draft; the
 * header counts what is left.
 */
static void
test_review_kinds(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
		G_SUBPROCESS_FLAGS_STDERR_PIPE);
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *ask = permission_script("ask");
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	const gchar *argv[] = {g_getenv("FLOTILLA"), "review", NULL};
	const gchar *order[] = {
		"#4 (1 of 4)", "[y]es allow", "#3 (2 of 4)", "re[t]ry", "runs again as session 5",
		"#2 (3 of 4)", "#1 (4 of 4)"};
	const gchar *at;
	guint a, b, c, d;

	fl_test_env_start_daemon(env, NULL);
	a = fl_test_run_session(env, repo, "--name", "plain-draft", "--", "echo a > a.txt", NULL);
	b = fl_test_run_session(env, repo, "--name", "failing-verify", "--verify", "false", "--",
				"echo b > b.txt", NULL);
	c = fl_test_run_session(env, repo, "--name", "broken", "--", "exit 3", NULL);
	wait_ended(env, a, "done");
	wait_ended(env, b, "done");
	wait_ended(env, c, "failed");
	d = fl_test_run_session(env, repo, "--name", "asks", "--", ask, NULL);
	g_assert_true(fl_test_wait_state(env, d, "blocked", WAIT_MS));

	g_subprocess_launcher_set_environ(launcher, env->envp);
	g_subprocess_launcher_set_cwd(launcher, env->root);
	proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
	g_assert_no_error(error);
	/* allow the request, retry the failure, reject the failing draft, approve the other */
	g_subprocess_communicate_utf8(proc, "y\nt\nr\na\n", NULL, &out, &err, &error);
	g_assert_no_error(error);
	g_test_message("review: %s%s", out, err);
	g_assert_true(g_subprocess_get_if_exited(proc));
	g_assert_cmpint(g_subprocess_get_exit_status(proc), ==, 0);
	at = out;
	for (guint i = 0; i < G_N_ELEMENTS(order); i++) {
		const gchar *next = strstr(at, order[i]);
		g_assert_nonnull(next);
		at = next;
	}
	g_assert_nonnull(strstr(out, "make ask"));
	/* nothing shown as decided: decided items leave the walk */
	g_assert_null(strstr(out, "(rejected)"));

	g_assert_cmpuint(count_events(env, d, "allowed", "cli"), ==, 1);
	wait_ended(env, d, "done");
	g_assert_cmpuint(count_events(env, c, "retried-as", NULL), ==, 1);
	assert_review(env, b, "rejected");
	assert_review(env, a, "approved");
	wait_ended(env, 5, "failed");
}

/* a group is one entry of the digest and of the review, decided as one */
static void
test_group_one_entry(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *api = make_repo(env, "api");
	g_autofree gchar *web = make_repo(env, "web");
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
		G_SUBPROCESS_FLAGS_STDERR_PIPE);
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) first = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *preview = NULL;
	const gchar *argv[] = {g_getenv("FLOTILLA"), "review", NULL};

	fl_test_env_start_daemon(env, NULL);
	g_free(fl_test_cli_ok(env, NULL, "run", "--group", "cross", "--repo", api, "--repo", web,
			      "--", "echo g > g.txt", NULL));
	wait_ended(env, 1, "done");
	wait_ended(env, 2, "done");
	preview = fl_test_cli_ok(env, NULL, "checkin", "--preview", NULL);
	g_assert_nonnull(strstr(preview, "@cross: 2 drafts (#1, #2)"));
	g_assert_null(strstr(preview, "#2 @cross"));

	mock = mock_start(env, "body body-markup actions persistence");
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	first = mock_wait_notify(mock, 1);
	g_assert_nonnull(strstr(first->body, "#1 @cross: 2 drafts (#1, #2)"));
	g_assert_null(strstr(first->body, "1 of"));
	g_assert_cmpstr(first->actions[2], ==, "approve:1");
	/* Approve on the group's entry lands both members, from the notification */
	mock_action(mock, first->id, "approve:1");
	wait_review(env, 1, "approved");
	wait_review(env, 2, "approved");
	g_assert_cmpuint(count_events(env, 2, "approved", "notification"), ==, 1);

	/* the review walks a group as one item too: "a" approves all of it */
	g_free(fl_test_cli_ok(env, NULL, "run", "--group", "pair", "--repo", api, "--repo", web,
			      "--", "echo p > p.txt", NULL));
	wait_ended(env, 3, "done");
	wait_ended(env, 4, "done");
	g_subprocess_launcher_set_environ(launcher, env->envp);
	g_subprocess_launcher_set_cwd(launcher, env->root);
	proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
	g_assert_no_error(error);
	g_subprocess_communicate_utf8(proc, "a\n", NULL, &out, &err, &error);
	g_assert_no_error(error);
	g_test_message("review: %s%s", out, err);
	g_assert_cmpint(g_subprocess_get_exit_status(proc), ==, 0);
	g_assert_nonnull(strstr(out, "(1 of 1)"));
	g_assert_nonnull(strstr(out, "#3 (pending), #4 (pending)"));
	g_assert_nonnull(strstr(out, "group @pair approved"));
	assert_review(env, 3, "approved");
	assert_review(env, 4, "approved");
}

/* the value of times= in the env's config */
static gchar *
configured_time(FlTestEnv *env)
{
	g_autofree gchar *contents = NULL;
	const gchar *p;

	g_assert_true(g_file_get_contents(env->config_path, &contents, NULL, NULL));
	p = strstr(contents, "times=");
	g_assert_nonnull(p);
	return g_strndup(p + strlen("times="), 5);
}

/* HH:MM of the next check-in as `flotilla status --json` tells it */
static gchar *
status_next(FlTestEnv *env)
{
	g_autofree gchar *out = fl_test_cli_ok(env, NULL, "status", "--json", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	JsonObject *obj;
	const gchar *iso;

	json_parser_load_from_data(parser, out, -1, &error);
	g_assert_no_error(error);
	obj = json_node_get_object(json_parser_get_root(parser));
	iso = json_object_get_string_member(obj, "next_checkin");
	g_assert_nonnull(iso);
	g_assert_cmpuint(strlen(iso), >=, 16);
	g_assert_cmpint(iso[10], ==, 'T');
	return g_strndup(iso + 11, 5);
}

static void
test_status_and_schedule(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *at = configured_time(env);
	g_autofree gchar *next = NULL;
	g_autofree gchar *status = NULL;
	g_autofree gchar *after = NULL;
	g_autofree gchar *label = NULL;
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) call = NULL;
	const gchar *line;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	status = fl_test_cli_ok(env, NULL, "status", NULL);
	line = strstr(status, "next check-in: ");
	g_assert_nonnull(line);
	g_assert_nonnull(strstr(line, at));
	next = status_next(env);
	g_assert_cmpstr(next, ==, at);

	id = fl_test_run_session(env, repo, "--name", "scheduled", "--", "echo s > s.txt", NULL);
	wait_ended(env, id, "done");
	mock = mock_start(env, "body body-markup actions");

	/* every minute: the timer delivers the digest on its own, labelled with its time */
	fl_test_env_stop_daemon(env, SIGTERM);
	fl_test_env_write_config(env, "[checkin]\nevery=1m\n");
	fl_test_env_start_daemon(env, NULL);
	g_free(next);
	next = status_next(env);
	{
		CallWait w = {mock, "Notify", 1, 0, FALSE};
		g_assert_true(fl_test_wait_for(calls_cond, &w, 90000));
	}
	call = mock_wait_notify(mock, 1);
	label = g_strdup_printf("Check-in %s · 1 draft", next);
	g_assert_cmpstr(call->summary, ==, label);
	g_assert_nonnull(strstr(call->body, "#1 scheduled"));
	after = status_next(env);
	g_assert_cmpstr(after, !=, next);
}

/* ------------------------------------------------------------------ dunst under Xvfb */

static gchar *
find_program(const gchar *program, const gchar *package)
{
	gchar *path = g_find_program_in_path(program);

	if (path == NULL) {
		g_autofree gchar *msg =
			g_strdup_printf("%s not found: install the %s package", program, package);
		g_test_skip(msg);
	}
	return path;
}

/* starts Xvfb on a free display; returns the display (":N") once it accepts clients */
static gchar *
xvfb_start(FlTestEnv *env, const gchar *xvfb, GSubprocess **proc)
{
	g_autoptr(GSubprocessLauncher) launcher =
		g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_SILENCE);
	g_autoptr(GError) error = NULL;
	g_autoptr(GInputStream) pipe_in = NULL;
	g_autoptr(GDataInputStream) data = NULL;
	g_autofree gchar *number = NULL;
	const gchar *argv[] = {xvfb,          "-displayfd", "3",   "-screen", "0",
			       "1024x400x24", "-nolisten",  "tcp", "-br",     NULL};
	gint fds[2];

	g_assert_true(g_unix_open_pipe(fds, FD_CLOEXEC, &error));
	g_subprocess_launcher_set_environ(launcher, env->envp);
	g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
	g_subprocess_launcher_take_fd(launcher, fds[1], 3);
	*proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
	g_assert_no_error(error);
	/* Xvfb writes the display number there once it is ready (EOF if it died) */
	g_clear_object(&launcher);
	pipe_in = g_unix_input_stream_new(fds[0], TRUE);
	data = g_data_input_stream_new(pipe_in);
	number = g_data_input_stream_read_line(data, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(number);
	return g_strdup_printf(":%s", g_strstrip(number));
}

static guint32
dunst_displayed(FlTestEnv *env)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
		env->conn, NOTIFY_NAME, NOTIFY_PATH, "org.freedesktop.DBus.Properties", "Get",
		g_variant_new("(ss)", "org.dunstproject.cmd0", "displayedLength"),
		G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, 5000, NULL, &error);
	g_autoptr(GVariant) value = NULL;

	g_assert_no_error(error);
	g_variant_get(reply, "(v)", &value);
	return g_variant_get_uint32(value);
}

static gboolean
dunst_shows_cond(gpointer user_data)
{
	return dunst_displayed(user_data) >= 1;
}

static gboolean
dunst_shows_two_cond(gpointer user_data)
{
	return dunst_displayed(user_data) >= 2;
}

static gboolean
tick_cb(gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}

/* for waits on other processes that send no event: poll @cond until @timeout_ms */
static gboolean
poll_until(gboolean (*cond)(gpointer), gpointer user_data, guint timeout_ms)
{
	guint tick = g_timeout_add(50, tick_cb, NULL);
	gboolean ok = fl_test_wait_for(cond, user_data, timeout_ms);

	g_source_remove(tick);
	return ok;
}

typedef struct {
	FlTestEnv *env;
	const gchar *display;
	const gchar *png;
} Shot;

/* takes a screenshot; TRUE when the top right corner, where dunst draws, is not all black */
static gboolean
screenshot_cond(gpointer user_data)
{
	Shot *shot = user_data;
	g_autofree gchar *cmd =
		g_strdup_printf("xwd -root -silent -display '%s' | convert xwd:- 'png:%s'",
				shot->display, shot->png);
	g_autoptr(GdkPixbuf) pixbuf = NULL;
	g_autoptr(GError) error = NULL;
	const guchar *pixels;
	gint stride;
	gint channels;
	guint lit = 0;

	g_free(fl_test_sh(shot->env->root, cmd));
	pixbuf = gdk_pixbuf_new_from_file(shot->png, &error);
	g_assert_no_error(error);
	g_assert_cmpint(gdk_pixbuf_get_width(pixbuf), ==, 1024);
	pixels = gdk_pixbuf_read_pixels(pixbuf);
	stride = gdk_pixbuf_get_rowstride(pixbuf);
	channels = gdk_pixbuf_get_n_channels(pixbuf);
	for (gint y = 0; y < 100; y++) {
		for (gint x = 1024 - 300; x < 1024; x++) {
			const guchar *p = pixels + y * stride + x * channels;
			if (p[0] > 16 || p[1] > 16 || p[2] > 16)
				lit++;
		}
	}
	return lit > 1000;
}

static void
test_dunst_end_to_end(void)
{
	g_autofree gchar *xvfb = find_program("Xvfb", "xvfb");
	g_autofree gchar *dunst = xvfb != NULL ? find_program("dunst", "dunst") : NULL;
	g_autofree gchar *xwd = dunst != NULL ? find_program("xwd", "x11-apps") : NULL;
	g_autofree gchar *convert = xwd != NULL ? find_program("convert", "imagemagick") : NULL;
	g_autoptr(FlTestEnv) env = NULL;
	g_autoptr(GSubprocess) xvfb_proc = NULL;
	g_autoptr(GSubprocess) dunst_proc = NULL;
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	g_autofree gchar *repo = NULL;
	g_autofree gchar *display = NULL;
	g_autofree gchar *picker = NULL;
	g_autofree gchar *picked = NULL;
	g_autofree gchar *dunstrc = NULL;
	g_autofree gchar *rc = NULL;
	g_autofree gchar *png = NULL;
	g_autofree gchar *menu = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *owner = NULL;
	g_autofree gchar *pattern = NULL;
	g_autofree gchar *script = NULL;
	gchar **envp = NULL;
	Shot shot;
	guint a, b, id;

	if (convert == NULL)
		return;
	env = env_new(NULL);
	repo = make_repo(env, "api");
	fl_test_env_start_daemon(env, NULL);
	/* two drafts: the one whose verify passed comes first */
	a = fl_test_run_session(env, repo, "--name", "plain-draft", "--", "echo a > a.txt", NULL);
	b = fl_test_run_session(env, repo, "--name", "verified-draft", "--verify", "test -f b.txt",
				"--", "echo b > b.txt", NULL);
	wait_ended(env, a, "done");
	wait_ended(env, b, "done");

	display = xvfb_start(env, xvfb, &xvfb_proc);
	/* dunst shows actions in a dmenu context menu: the stand-in picks the first entry that
	 * matches the pattern in a file, like a user reading the menu would */
	picker = g_build_filename(env->root, "pick.sh", NULL);
	picked = g_build_filename(env->root, "dmenu-input.txt", NULL);
	pattern = g_build_filename(env->root, "pick-pattern", NULL);
	g_assert_true(g_file_set_contents(pattern, ",approve:", -1, NULL));
	rc = g_strdup_printf("#!/bin/sh\ntee '%s' | grep -m1 -F \"$(cat '%s')\"\n", picked,
			     pattern);
	g_assert_true(g_file_set_contents(picker, rc, -1, NULL));
	g_assert_cmpint(g_chmod(picker, 0700), ==, 0);
	g_free(rc);
	rc = g_strdup_printf("[global]\n"
			     "    font = Monospace 10\n"
			     "    width = 520\n"
			     "    height = 300\n"
			     "    origin = top-right\n"
			     "    offset = 10x10\n"
			     "    markup = full\n"
			     "    format = \"<b>%%s</b>\\n%%b\"\n"
			     "    dmenu = %s\n"
			     "[urgency_low]\n    timeout = 0\n"
			     "[urgency_normal]\n    timeout = 0\n"
			     "[urgency_critical]\n    timeout = 0\n",
			     picker);
	dunstrc = g_build_filename(env->root, "dunstrc", NULL);
	g_assert_true(g_file_set_contents(dunstrc, rc, -1, NULL));

	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
					     G_SUBPROCESS_FLAGS_STDERR_SILENCE);
	envp = g_environ_setenv(g_strdupv(env->envp), "DISPLAY", display, TRUE);
	g_subprocess_launcher_set_environ(launcher, envp);
	g_strfreev(envp);
	g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
	dunst_proc = g_subprocess_launcher_spawn(launcher, &error, dunst, "-config", dunstrc, NULL);
	g_assert_no_error(error);
	owner = wait_name(env, NOTIFY_NAME, FALSE);

	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	g_assert_true(poll_until(dunst_shows_cond, env, WAIT_MS));

	/* the artifact: what the user sees */
	png = g_test_build_filename(G_TEST_BUILT, "checkin-digest.png", NULL);
	shot = (Shot){env, display, png};
	g_assert_true(poll_until(screenshot_cond, &shot, WAIT_MS));
	g_test_message("screenshot of the digest: %s", png);

	/* the user opens the context menu and picks Approve */
	reply = g_dbus_connection_call_sync(env->conn, NOTIFY_NAME, NOTIFY_PATH,
					    "org.dunstproject.cmd0", "ContextMenuCall", NULL, NULL,
					    G_DBUS_CALL_FLAGS_NO_AUTO_START, 10000, NULL, &error);
	g_assert_no_error(error);
	wait_review(env, 2, "approved");
	log = fl_test_git(repo, "log -1 --format=%s main");
	g_assert_nonnull(strstr(log, "Merge flotilla session 2"));
	g_assert_cmpuint(count_events(env, 2, "approved", "notification"), ==, 1);
	g_assert_true(g_file_get_contents(picked, &menu, NULL, NULL));
	g_test_message("dunst menu: %s", menu);
	g_assert_nonnull(strstr(menu, "#Approve ("));
	g_assert_nonnull(strstr(menu, ",approve:2]"));
	g_assert_nonnull(strstr(menu, ",reject:2]"));

	/* an agent's permission request, answered with Allow from dunst's menu */
	g_assert_true(g_file_set_contents(pattern, ",allow:", -1, NULL));
	script = permission_script("check");
	id = fl_test_run_session(env, repo, "--name", "asks-to-build", "--", script, NULL);
	g_assert_true(fl_test_wait_state(env, id, "blocked", WAIT_MS));
	g_assert_true(poll_until(dunst_shows_two_cond, env, WAIT_MS));
	g_clear_pointer(&reply, g_variant_unref);
	reply = g_dbus_connection_call_sync(env->conn, NOTIFY_NAME, NOTIFY_PATH,
					    "org.dunstproject.cmd0", "ContextMenuCall", NULL, NULL,
					    G_DBUS_CALL_FLAGS_NO_AUTO_START, 10000, NULL, &error);
	g_assert_no_error(error);
	wait_ended(env, id, "done");
	g_clear_pointer(&menu, g_free);
	g_assert_true(g_file_get_contents(picked, &menu, NULL, NULL));
	g_test_message("dunst menu: %s", menu);
	g_assert_nonnull(strstr(menu, "#Allow ("));
	g_assert_nonnull(strstr(menu, "#Deny ("));
	g_assert_cmpuint(count_events(env, id, "allowed", "notification"), ==, 1);
	g_assert_cmpuint(count_events(env, id, "denied", NULL), ==, 0);
	/* the agent was told yes, and went on */
	g_clear_pointer(&log, g_free);
	log = fl_test_cli_ok(env, NULL, "log", "3", NULL);
	g_assert_nonnull(strstr(log, "\"allow\""));

	stop_process(&dunst_proc);
	stop_process(&xvfb_proc);
}

/* a directory of stand-in programs put first on the daemon's PATH */
static gchar *
fake_bin(FlTestEnv *env)
{
	gchar *bin = g_build_filename(env->root, "bin", NULL);
	g_autofree gchar *path = NULL;

	g_assert_cmpint(g_mkdir_with_parents(bin, 0700), ==, 0);
	path = g_strdup_printf("%s:%s", bin, g_environ_getenv(env->envp, "PATH"));
	env->envp = g_environ_setenv(env->envp, "PATH", path, TRUE);
	/* no installed desktop entry of ours gets in the way */
	env->envp = g_environ_setenv(env->envp, "XDG_DATA_DIRS", bin, TRUE);
	env->envp = g_environ_setenv(env->envp, "XDG_DATA_HOME", bin, TRUE);
	env->envp = g_environ_unsetenv(env->envp, "TERMINAL");
	return bin;
}

static void
write_script(const gchar *dir, const gchar *name, const gchar *text)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	g_autofree gchar *script = g_strdup_printf("#!/bin/sh\n%s\n", text);

	g_assert_true(g_file_set_contents(path, script, -1, NULL));
	g_assert_cmpint(g_chmod(path, 0700), ==, 0);
}

typedef struct {
	const gchar *socket;
	const gchar *want;
	gchar *screen;
} Pane;

/* what the tmux pane shows has @want */
static gboolean
pane_cond(gpointer user_data)
{
	Pane *pane = user_data;
	const gchar *argv[] = {"tmux", "-S", pane->socket, "capture-pane",
			       "-p",   "-t", "review",     NULL};

	g_clear_pointer(&pane->screen, g_free);
	if (!g_spawn_sync(NULL, (gchar **)argv, NULL,
			  G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
			  &pane->screen, NULL, NULL, NULL))
		return FALSE;
	return pane->screen != NULL && strstr(pane->screen, pane->want) != NULL;
}

/*
 * A click on the digest opens the review in the user's terminal (here xdg-terminal-exec,
 * standing in with a tmux session); the user approves the draft there, and git has it.
 */
static void
test_review_in_terminal(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *bin = fake_bin(env);
	g_autofree gchar *socket = g_build_filename(env->root, "tmux.sock", NULL);
	g_autofree gchar *fake = NULL;
	g_autofree gchar *log = NULL;
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) call = NULL;
	g_autofree gchar *tmux = find_program("tmux", "tmux");
	g_autofree gchar *keys = NULL;
	const gchar *kill[] = {"tmux", "-S", socket, "kill-server", NULL};
	Pane pane = {socket, "[a]pprove", NULL};
	guint id;

	if (tmux == NULL)
		return;
	fake = g_strdup_printf("exec tmux -S '%s' new-session -d -s review -x 150 -y 40 \"$@\"",
			       socket);
	write_script(bin, "xdg-terminal-exec", fake);
	/* later in the order: never reached while xdg-terminal-exec works */
	write_script(bin, "x-terminal-emulator", "exit 1");
	fl_test_env_start_daemon(env, NULL);
	id = fl_test_run_session(env, repo, "--name", "a-draft", "--", "echo a > a.txt", NULL);
	wait_ended(env, id, "done");
	mock = mock_start(env, "body body-markup actions");
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	call = mock_wait_notify(mock, 1);

	mock_action(mock, call->id, "default");
	g_assert_true(poll_until(pane_cond, &pane, WAIT_MS));
	g_test_message("terminal: %s", pane.screen);
	g_assert_nonnull(strstr(pane.screen, "a-draft"));
	keys = g_strdup_printf("tmux -S '%s' send-keys -t review a Enter", socket);
	g_assert_true(g_spawn_command_line_sync(keys, NULL, NULL, NULL, NULL));
	wait_review(env, id, "approved");
	log = fl_test_git(repo, "log -1 --format=%s main");
	g_assert_nonnull(strstr(log, "Merge flotilla session 1"));
	g_assert_cmpuint(count_events(env, id, "approved", "cli"), ==, 1);
	g_free(pane.screen);
	g_spawn_sync(NULL, (gchar **)kill, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
		     NULL, NULL, NULL, NULL, NULL, NULL);
}

/* no terminal works: the click says so where the user looks, with the command to type */
static void
test_review_no_terminal(void)
{
	g_autoptr(FlTestEnv) env = env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *bin = fake_bin(env);
	g_autoptr(Mock) mock = NULL;
	g_autoptr(NotifyCall) call = NULL;
	g_autoptr(NotifyCall) told = NULL;
	guint id;

	/* each one there, each one failing the way a terminal without a display does */
	write_script(bin, "xdg-terminal-exec", "echo 'no display' >&2; exit 1");
	write_script(bin, "x-terminal-emulator", "exit 1");
	write_script(bin, "my-term", "exit 2");
	env->envp = g_environ_setenv(env->envp, "TERMINAL", "my-term", TRUE);
	fl_test_env_start_daemon(env, NULL);
	id = fl_test_run_session(env, repo, "--", "echo a > a.txt", NULL);
	wait_ended(env, id, "done");
	mock = mock_start(env, "body body-markup actions");
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--now", NULL));
	call = mock_wait_notify(mock, 1);
	mock_action(mock, call->id, "default");
	told = mock_find_notify(mock, 2, "No terminal");
	g_assert_nonnull(strstr(told->body, "flotilla review"));
	assert_review(env, id, "pending");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/checkin/digest-walk", test_digest_walk);
	g_test_add_func("/checkin/stale-keys", test_stale_keys);
	g_test_add_func("/checkin/close-is-no-decision", test_close_is_no_decision);
	g_test_add_func("/checkin/no-actions-server", test_no_actions_server);
	g_test_add_func("/checkin/no-server-then-server", test_no_server_then_server);
	g_test_add_func("/checkin/server-restart", test_server_restart);
	g_test_add_func("/checkin/many-items", test_many_items);
	g_test_add_func("/checkin/default-opens-review", test_default_opens_review);
	g_test_add_func("/checkin/blocked-and-failed-now", test_blocked_and_failed_now);
	g_test_add_func("/checkin/session-language", test_session_language);
	g_test_add_func("/checkin/answer-permission", test_answer_permission);
	g_test_add_func("/checkin/answer-reply", test_answer_reply);
	g_test_add_func("/checkin/digest-answer", test_digest_answer);
	g_test_add_func("/checkin/dismiss", test_dismiss);
	g_test_add_func("/checkin/digest-retry-dismiss", test_digest_retry_dismiss);
	g_test_add_func("/checkin/hung-server", test_hung_server);
	g_test_add_func("/checkin/preview-and-empty", test_preview_and_empty);
	g_test_add_func("/checkin/preview-long", test_preview_long);
	g_test_add_func("/checkin/review-cli", test_review_cli);
	g_test_add_func("/checkin/group-one-entry", test_group_one_entry);
	g_test_add_func("/checkin/review-kinds", test_review_kinds);
	g_test_add_func("/checkin/review-in-terminal", test_review_in_terminal);
	g_test_add_func("/checkin/review-no-terminal", test_review_no_terminal);
	g_test_add_func("/checkin/status-and-schedule", test_status_and_schedule);
	g_test_add_func("/checkin/dunst-end-to-end", test_dunst_end_to_end);
	return g_test_run();
}
