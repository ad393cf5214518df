/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-http.h"

#include <curl/curl.h>
#include <glib-unix.h>
#include <string.h>

#include "fl-error.h"
#include "fl-i18n.h"

/*
 * libcurl's multi "socket" interface on GLib sources. curl tells us which fds to watch
 * (fl_http_socket_cb) and when to call it back (fl_http_timer_cb); we call
 * curl_multi_socket_action() from the fd and timer sources, then reap finished transfers.
 *
 * libcurl forbids curl_multi_* calls from inside its callbacks, and our header/write
 * callbacks run user code that may cancel or start requests. So anything that adds or
 * removes an easy handle while we are inside libcurl (in_curl > 0) is deferred to a source.
 */

#define FL_HTTP_RETRY_AFTER_MAX_S 600
#define FL_HTTP_BACKOFF_MAX_MS    60000

typedef struct {
	GSource *source; /* (owned) (nullable) */
} FlHttpSock;

struct _FlHttp {
	GObject parent_instance;
	GMainContext *context; /* (owned) where all our sources live */
	CURLM *multi;          /* (owned) */
	GSource *timer;        /* (owned) (nullable) libcurl's one-shot timer */
	GHashTable *socks;     /* (owned) set of (owned) FlHttpSock */
	GHashTable *transfers; /* (owned) set of (unowned) FlHttpTransfer in flight */
	GQueue pending_adds;   /* (unowned) transfers to add once out of libcurl */
	GQueue pending_ends;   /* (unowned) transfers to complete once out of libcurl */
	GSource *deferred;     /* (owned) (nullable) runs the two queues */
	guint in_curl;
	gint running;
	gboolean finalizing;
};

G_DEFINE_TYPE(FlHttp, fl_http, G_TYPE_OBJECT)

/* owned by its GTask as task data; the task is owned by the transfer until completion */
typedef struct {
	FlHttp *self; /* (unowned) the task keeps it alive */
	GTask *task;  /* (owned) (nullable) NULL once completed */
	CURL *easy;   /* (owned) (nullable) */
	struct curl_slist *headers;
	GBytes *body;    /* (owned) (nullable) */
	gchar *safe_url; /* (owned) no credentials, query or fragment: fit for messages */
	gchar errbuf[CURL_ERROR_SIZE];
	guint idle_timeout_s;
	gint64 last_activity; /* monotonic, when bytes last arrived */
	GSource *idle_timer;  /* (owned) (nullable) */
	GSource *cancel_src;  /* (owned) (nullable) */
	FlHttpResponseFunc response_func;
	FlHttpDataFunc data_func;
	gpointer func_data;
	GHashTable *response_headers; /* (owned) */
	gboolean response_seen;
	gboolean added;
	gboolean curl_done;
	CURLcode result;
	guint status;
	GError *error; /* (owned) (nullable) a callback's error or our own abort reason */
} FlHttpTransfer;

static void
fl_http_clear_source(GSource **source)
{
	if (*source == NULL)
		return;
	g_source_destroy(*source);
	g_clear_pointer(source, g_source_unref);
}

static void
fl_http_transfer_free(FlHttpTransfer *transfer)
{
	/* completion removed the handle from the multi and released the sources */
	g_warn_if_fail(transfer->task == NULL);
	g_clear_pointer(&transfer->easy, curl_easy_cleanup);
	g_clear_pointer(&transfer->headers, curl_slist_free_all);
	g_clear_pointer(&transfer->body, g_bytes_unref);
	fl_http_clear_source(&transfer->idle_timer);
	fl_http_clear_source(&transfer->cancel_src);
	g_clear_pointer(&transfer->response_headers, g_hash_table_unref);
	g_clear_error(&transfer->error);
	g_free(transfer->safe_url);
	g_free(transfer);
}

static GCancellable *
fl_http_transfer_get_cancellable(FlHttpTransfer *transfer)
{
	return transfer->task != NULL ? g_task_get_cancellable(transfer->task) : NULL;
}

/* FALSE once nothing more should reach the caller's callbacks */
static gboolean
fl_http_transfer_is_live(FlHttpTransfer *transfer)
{
	return transfer->task != NULL && transfer->error == NULL &&
	       !g_cancellable_is_cancelled(fl_http_transfer_get_cancellable(transfer));
}

static GError *
fl_http_transfer_build_error(FlHttpTransfer *transfer)
{
	const gchar *reason;

	if (transfer->error != NULL)
		return g_steal_pointer(&transfer->error);
	if (g_cancellable_is_cancelled(fl_http_transfer_get_cancellable(transfer)))
		return g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED,
					   _("Operation was cancelled"));
	if (!transfer->curl_done || transfer->result == CURLE_OK)
		return NULL;
	reason = transfer->errbuf[0] != '\0' ? transfer->errbuf
					     : curl_easy_strerror(transfer->result);
	/* TRANSLATORS: a URL, then libcurl's reason */
	return g_error_new(FL_ERROR, FL_ERROR_FAILED, _("HTTP request to %s failed: %s"),
			   transfer->safe_url, reason);
}

/* never called from inside libcurl */
static void
fl_http_transfer_complete(FlHttpTransfer *transfer)
{
	FlHttp *self = transfer->self;
	g_autoptr(GTask) task = NULL;
	g_autoptr(GError) error = NULL;
	long code = 0;

	if (transfer->task == NULL)
		return;
	g_warn_if_fail(self->in_curl == 0);
	error = fl_http_transfer_build_error(transfer);
	task = g_steal_pointer(&transfer->task);

	if (transfer->easy != NULL &&
	    curl_easy_getinfo(transfer->easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
	    code > 0)
		transfer->status = (guint)code;
	if (transfer->added) {
		curl_multi_remove_handle(self->multi, transfer->easy);
		transfer->added = FALSE;
	}
	g_clear_pointer(&transfer->easy, curl_easy_cleanup);
	fl_http_clear_source(&transfer->idle_timer);
	fl_http_clear_source(&transfer->cancel_src);
	g_queue_remove(&self->pending_adds, transfer);
	g_queue_remove(&self->pending_ends, transfer);
	g_hash_table_remove(self->transfers, transfer);

	if (error != NULL) {
		g_debug("request to %s failed: %s", transfer->safe_url, error->message);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_debug("request to %s done: HTTP %u", transfer->safe_url, transfer->status);
	g_task_return_boolean(task, TRUE);
}

/* never called from inside libcurl */
static void
fl_http_transfer_add(FlHttpTransfer *transfer)
{
	CURLMcode rc = curl_multi_add_handle(transfer->self->multi, transfer->easy);

	if (rc != CURLM_OK) {
		transfer->error = g_error_new(FL_ERROR, FL_ERROR_FAILED,
					      _("cannot start HTTP request to %s: %s"),
					      transfer->safe_url, curl_multi_strerror(rc));
		fl_http_transfer_complete(transfer);
		return;
	}
	/* libcurl now arms its timer: the transfer starts from the main loop */
	transfer->added = TRUE;
}

static gboolean
fl_http_deferred_cb(gpointer user_data)
{
	FlHttp *self = user_data;
	g_autoptr(FlHttp) keep = g_object_ref(self);
	FlHttpTransfer *transfer;

	g_clear_pointer(&self->deferred, g_source_unref);
	while ((transfer = g_queue_pop_head(&self->pending_ends)) != NULL)
		fl_http_transfer_complete(transfer);
	while ((transfer = g_queue_pop_head(&self->pending_adds)) != NULL)
		fl_http_transfer_add(transfer);
	return G_SOURCE_REMOVE;
}

static void
fl_http_schedule_deferred(FlHttp *self)
{
	if (self->deferred != NULL)
		return;
	/* default priority, not idle: busy streams must not starve a cancellation */
	self->deferred = g_idle_source_new();
	g_source_set_priority(self->deferred, G_PRIORITY_DEFAULT);
	g_source_set_callback(self->deferred, fl_http_deferred_cb, self, NULL);
	g_source_set_static_name(self->deferred, "[flotilla] http deferred");
	g_source_attach(self->deferred, self->context);
}

/* ends @transfer with @error (owned) now, or as soon as we are out of libcurl */
static void
fl_http_transfer_abort(FlHttpTransfer *transfer, GError *error)
{
	FlHttp *self = transfer->self;

	if (transfer->task == NULL || transfer->error != NULL) {
		g_error_free(error);
		return;
	}
	transfer->error = error;
	if (self->in_curl > 0) {
		g_queue_push_tail(&self->pending_ends, transfer);
		fl_http_schedule_deferred(self);
		return;
	}
	fl_http_transfer_complete(transfer);
}

static void
fl_http_reap(FlHttp *self)
{
	g_autoptr(GPtrArray) done = g_ptr_array_new_with_free_func(g_object_unref);
	CURLMsg *msg;
	gint left = 0;

	/* collect first: completing runs user code, and msg is only valid until the removal */
	while ((msg = curl_multi_info_read(self->multi, &left)) != NULL) {
		FlHttpTransfer *transfer = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&transfer);
		if (transfer == NULL || transfer->task == NULL)
			continue;
		transfer->curl_done = TRUE;
		transfer->result = msg->data.result;
		g_ptr_array_add(done, g_object_ref(transfer->task));
	}
	/* the task refs keep each transfer alive even if a callback completes another one */
	for (guint i = 0; i < done->len; i++)
		fl_http_transfer_complete(g_task_get_task_data(g_ptr_array_index(done, i)));
}

static void
fl_http_socket_action(FlHttp *self, curl_socket_t fd, gint action)
{
	/* a completion may drop the last reference to us */
	g_autoptr(FlHttp) keep = g_object_ref(self);
	CURLMcode rc;

	self->in_curl++;
	rc = curl_multi_socket_action(self->multi, fd, action, &self->running);
	self->in_curl--;
	if (rc != CURLM_OK)
		g_warning("curl_multi_socket_action failed: %s", curl_multi_strerror(rc));
	fl_http_reap(self);
}

static gboolean
fl_http_fd_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	/* user_data is self, not the FlHttpSock, which socket_action may free */
	FlHttp *self = user_data;
	gint action = 0;

	/* after a hang-up reading still returns the last bytes, then the end */
	if (condition & (G_IO_IN | G_IO_HUP))
		action |= CURL_CSELECT_IN;
	if (condition & G_IO_OUT)
		action |= CURL_CSELECT_OUT;
	if (condition & G_IO_ERR)
		action |= CURL_CSELECT_ERR;
	fl_http_socket_action(self, fd, action);
	/* only CURL_POLL_REMOVE removes a watch: curl still holds the fd */
	return G_SOURCE_CONTINUE;
}

static void
fl_http_sock_free(FlHttpSock *sock)
{
	fl_http_clear_source(&sock->source);
	g_free(sock);
}

static int
fl_http_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	FlHttp *self = userp;
	FlHttpSock *sock = socketp;
	GIOCondition condition = 0;

	/* curl_multi_cleanup() may call us; the socks table is freed right after */
	if (self->finalizing)
		return 0;

	if (what == CURL_POLL_REMOVE) {
		if (sock != NULL) {
			curl_multi_assign(self->multi, fd, NULL);
			g_hash_table_remove(self->socks, sock);
		}
		return 0;
	}
	if (sock == NULL) {
		sock = g_new0(FlHttpSock, 1);
		g_hash_table_add(self->socks, sock);
		curl_multi_assign(self->multi, fd, sock);
	}
	fl_http_clear_source(&sock->source);
	if (what & CURL_POLL_IN)
		condition |= G_IO_IN;
	if (what & CURL_POLL_OUT)
		condition |= G_IO_OUT;
	if (condition == 0)
		return 0;
	sock->source = g_unix_fd_source_new(fd, condition);
	g_source_set_callback(sock->source, G_SOURCE_FUNC(fl_http_fd_cb), self, NULL);
	g_source_set_static_name(sock->source, "[flotilla] http socket");
	g_source_attach(sock->source, self->context);
	return 0;
}

static gboolean
fl_http_timeout_cb(gpointer user_data)
{
	FlHttp *self = user_data;

	/* forget the timer before socket_action, which may arm a new one */
	g_clear_pointer(&self->timer, g_source_unref);
	fl_http_socket_action(self, CURL_SOCKET_TIMEOUT, 0);
	return G_SOURCE_REMOVE;
}

static int
fl_http_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	FlHttp *self = userp;

	/* one timer, replaced by every call; -1 deletes it */
	fl_http_clear_source(&self->timer);
	if (self->finalizing || timeout_ms < 0)
		return 0;
	/* a 0 timeout still goes through the main loop: calling libcurl here would recurse */
	self->timer = g_timeout_source_new((guint)MIN(timeout_ms, (long)G_MAXUINT));
	g_source_set_callback(self->timer, fl_http_timeout_cb, self, NULL);
	g_source_set_static_name(self->timer, "[flotilla] http timer");
	g_source_attach(self->timer, self->context);
	return 0;
}

static size_t
fl_http_header_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	FlHttpTransfer *transfer = userdata;
	gsize len = size * nitems;
	g_autofree gchar *line = NULL;
	const gchar *colon;
	long code = 0;

	if (!fl_http_transfer_is_live(transfer))
		return 0;
	transfer->last_activity = g_get_monotonic_time();
	line = g_utf8_make_valid(buffer, (gssize)len);
	g_strchomp(line);

	/* a new status line starts a new header block: 1xx, then the final response */
	if (g_str_has_prefix(line, "HTTP/")) {
		g_hash_table_remove_all(transfer->response_headers);
		return len;
	}
	if (line[0] == '\0') {
		curl_easy_getinfo(transfer->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code < 200 || transfer->response_seen)
			return len;
		transfer->response_seen = TRUE;
		transfer->status = (guint)code;
		if (transfer->response_func != NULL &&
		    !transfer->response_func(transfer->status, transfer->response_headers,
					     transfer->func_data, &transfer->error)) {
			if (transfer->error == NULL)
				transfer->error =
					g_error_new_literal(FL_ERROR, FL_ERROR_FAILED,
							    _("request aborted by its caller"));
			return 0;
		}
		return len;
	}
	colon = strchr(line, ':');
	if (colon != NULL && colon != line) {
		g_autofree gchar *name = g_ascii_strdown(line, colon - line);
		g_autofree gchar *value = g_strstrip(g_strdup(colon + 1));
		const gchar *previous = g_hash_table_lookup(transfer->response_headers, name);

		if (previous != NULL) {
			gchar *joined = g_strdup_printf("%s, %s", previous, value);

			g_clear_pointer(&value, g_free);
			value = joined;
		}
		g_hash_table_replace(transfer->response_headers, g_steal_pointer(&name),
				     g_steal_pointer(&value));
	}
	return len;
}

static size_t
fl_http_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	FlHttpTransfer *transfer = userdata;
	gsize len = size * nmemb;

	/* a caller cancelling from its data callback must not get more data */
	if (!fl_http_transfer_is_live(transfer))
		return CURL_WRITEFUNC_ERROR;
	transfer->last_activity = g_get_monotonic_time();
	if (transfer->data_func != NULL &&
	    !transfer->data_func((const guint8 *)ptr, len, transfer->func_data, &transfer->error)) {
		if (transfer->error == NULL)
			transfer->error = g_error_new_literal(FL_ERROR, FL_ERROR_FAILED,
							      _("request aborted by its caller"));
		return CURL_WRITEFUNC_ERROR;
	}
	return len;
}

static void
fl_http_transfer_arm_idle(FlHttpTransfer *transfer, guint timeout_ms);

static gboolean
fl_http_transfer_idle_cb(gpointer user_data)
{
	FlHttpTransfer *transfer = user_data;
	gint64 deadline =
		transfer->last_activity + (gint64)transfer->idle_timeout_s * G_USEC_PER_SEC;
	gint64 now = g_get_monotonic_time();

	g_clear_pointer(&transfer->idle_timer, g_source_unref);
	/* bytes arrived since arming: re-arm for the rest rather than touch a timer per chunk */
	if (now < deadline) {
		fl_http_transfer_arm_idle(transfer, (guint)((deadline - now + 999) / 1000));
		return G_SOURCE_REMOVE;
	}
	/* TRANSLATORS: %u is a number of seconds */
	fl_http_transfer_abort(transfer,
			       g_error_new(FL_ERROR, FL_ERROR_FAILED, _("no data for %u s"),
					   transfer->idle_timeout_s));
	return G_SOURCE_REMOVE;
}

static void
fl_http_transfer_arm_idle(FlHttpTransfer *transfer, guint timeout_ms)
{
	transfer->idle_timer = g_timeout_source_new(timeout_ms);
	g_source_set_callback(transfer->idle_timer, fl_http_transfer_idle_cb, transfer, NULL);
	g_source_set_static_name(transfer->idle_timer, "[flotilla] http idle timeout");
	g_source_attach(transfer->idle_timer, transfer->self->context);
}

static gboolean
fl_http_transfer_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
	FlHttpTransfer *transfer = user_data;

	fl_http_transfer_abort(transfer, g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED,
							     _("Operation was cancelled")));
	return G_SOURCE_REMOVE;
}

static gchar *
fl_http_url_part(CURLU *url, CURLUPart what)
{
	char *part = NULL;
	gchar *result;

	if (curl_url_get(url, what, &part, 0) != CURLUE_OK)
		return NULL;
	result = g_strdup(part);
	curl_free(part);
	return result;
}

/* scheme://host[:port]/path: URLs may carry keys in credentials or the query */
static gchar *
fl_http_safe_url(const gchar *url, GError **error)
{
	CURLU *parsed = curl_url();
	CURLUcode rc = curl_url_set(parsed, CURLUPART_URL, url, 0);
	g_autofree gchar *scheme = NULL;
	g_autofree gchar *host = NULL;
	g_autofree gchar *port = NULL;
	g_autofree gchar *path = NULL;

	if (rc != CURLUE_OK) {
		g_set_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT, _("invalid URL: %s"),
			    curl_url_strerror(rc));
		curl_url_cleanup(parsed);
		return NULL;
	}
	scheme = fl_http_url_part(parsed, CURLUPART_SCHEME);
	host = fl_http_url_part(parsed, CURLUPART_HOST);
	port = fl_http_url_part(parsed, CURLUPART_PORT);
	path = fl_http_url_part(parsed, CURLUPART_PATH);
	curl_url_cleanup(parsed);
	if (g_strcmp0(scheme, "http") != 0 && g_strcmp0(scheme, "https") != 0) {
		g_set_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT,
			    _("unsupported URL scheme '%s': only http and https are allowed"),
			    scheme);
		return NULL;
	}
	return g_strdup_printf("%s://%s%s%s%s", scheme, host != NULL ? host : "",
			       port != NULL ? ":" : "", port != NULL ? port : "",
			       path != NULL ? path : "/");
}

static gboolean
fl_http_transfer_setup(FlHttpTransfer *transfer, const FlHttpRequest *request, GError **error)
{
	CURL *easy = curl_easy_init();
	gboolean has_expect = FALSE;

	if (easy == NULL) {
		g_set_error_literal(error, FL_ERROR, FL_ERROR_FAILED,
				    _("cannot create an HTTP transfer"));
		return FALSE;
	}
	transfer->easy = easy;

	for (guint i = 0; request->headers != NULL && request->headers[i] != NULL; i++) {
		struct curl_slist *list = curl_slist_append(transfer->headers, request->headers[i]);

		if (list == NULL) {
			g_set_error_literal(error, FL_ERROR, FL_ERROR_FAILED,
					    _("cannot build the HTTP request headers"));
			return FALSE;
		}
		transfer->headers = list;
		if (g_ascii_strncasecmp(request->headers[i], "Expect:", 7) == 0)
			has_expect = TRUE;
	}
	/* "Expect: 100-continue" would stall big POSTs on servers that ignore it */
	if (!has_expect)
		transfer->headers = curl_slist_append(transfer->headers, "Expect:");

	if (curl_easy_setopt(easy, CURLOPT_URL, request->url) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK) {
		g_set_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT, _("cannot use URL %s"),
			    transfer->safe_url);
		return FALSE;
	}
	curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->errbuf);
	/* we run in a daemon with threads: libcurl must never touch signals */
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 60L);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 30L);
	/* streams last as long as the model talks: no total timeout, the idle timer guards */
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, 0L);
	if (request->connect_timeout_s > 0)
		curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, (long)request->connect_timeout_s);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "flotilla/" PACKAGE_VERSION);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer->headers);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, fl_http_header_cb);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, transfer);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, fl_http_write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer);
	if (request->body != NULL) {
		gsize size = 0;
		const gchar *data = g_bytes_get_data(request->body, &size);

		transfer->body = g_bytes_ref(request->body);
		curl_easy_setopt(easy, CURLOPT_POST, 1L);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
		/* NULL would make libcurl read the body from stdin's read callback */
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, data != NULL ? data : "");
	}
	return TRUE;
}

void
fl_http_request_async(FlHttp *self, const FlHttpRequest *request, GCancellable *cancellable,
		      GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GError) error = NULL;
	FlHttpTransfer *transfer;
	GCancellable *task_cancellable;

	g_return_if_fail(FL_IS_HTTP(self));
	g_return_if_fail(request != NULL);
	g_return_if_fail(request->url != NULL);
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, fl_http_request_async);
	transfer = g_new0(FlHttpTransfer, 1);
	transfer->self = self;
	transfer->response_headers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	transfer->response_func = request->response_func;
	transfer->data_func = request->data_func;
	transfer->func_data = request->func_data;
	transfer->idle_timeout_s = request->idle_timeout_s;
	transfer->last_activity = g_get_monotonic_time();
	g_task_set_task_data(task, transfer, (GDestroyNotify)fl_http_transfer_free);

	if (g_task_return_error_if_cancelled(task))
		return;
	transfer->safe_url = fl_http_safe_url(request->url, &error);
	if (transfer->safe_url == NULL || !fl_http_transfer_setup(transfer, request, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}

	/* from here the transfer owns the task until fl_http_transfer_complete() */
	transfer->task = g_steal_pointer(&task);
	g_hash_table_add(self->transfers, transfer);
	g_debug("starting request to %s", transfer->safe_url);

	task_cancellable = g_task_get_cancellable(transfer->task);
	if (task_cancellable != NULL) {
		/* a source, not a ::cancelled handler: it runs in our context, outside libcurl,
		 * whichever thread cancels */
		transfer->cancel_src = g_cancellable_source_new(task_cancellable);
		g_source_set_callback(transfer->cancel_src,
				      G_SOURCE_FUNC(fl_http_transfer_cancelled_cb), transfer, NULL);
		g_source_set_static_name(transfer->cancel_src, "[flotilla] http cancel");
		g_source_attach(transfer->cancel_src, self->context);
	}
	if (transfer->idle_timeout_s > 0)
		fl_http_transfer_arm_idle(transfer, transfer->idle_timeout_s * 1000);

	/* called from a response or data callback: libcurl refuses to nest */
	if (self->in_curl > 0) {
		g_queue_push_tail(&self->pending_adds, transfer);
		fl_http_schedule_deferred(self);
		return;
	}
	fl_http_transfer_add(transfer);
}

gboolean
fl_http_request_finish(FlHttp *self, GAsyncResult *result, guint *status, GError **error)
{
	FlHttpTransfer *transfer;

	g_return_val_if_fail(FL_IS_HTTP(self), FALSE);
	g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == fl_http_request_async, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	transfer = g_task_get_task_data(G_TASK(result));
	if (status != NULL)
		*status = transfer->status;
	return g_task_propagate_boolean(G_TASK(result), error);
}

static gboolean
fl_http_parse_retry_after(const gchar *value, guint64 *seconds)
{
	g_autofree gchar *trimmed = g_strstrip(g_strdup(value));
	guint64 result = 0;

	if (trimmed[0] == '\0')
		return FALSE;
	for (const gchar *p = trimmed; *p != '\0'; p++) {
		if (!g_ascii_isdigit(*p))
			return FALSE;
		/* saturate: the cap applies anyway */
		result = MIN(result * 10 + (guint64)(*p - '0'), (guint64)G_MAXUINT32);
	}
	*seconds = result;
	return TRUE;
}

guint
fl_http_backoff_delay(guint attempt, const gchar *retry_after)
{
	guint64 seconds = 0;
	guint delay;

	if (retry_after != NULL && fl_http_parse_retry_after(retry_after, &seconds)) {
		delay = (guint)MIN(seconds, FL_HTTP_RETRY_AFTER_MAX_S) * 1000;
		return delay + (guint)g_random_int_range(0, (gint32)(delay / 10) + 1);
	}
	/* 1 s doubling: attempts past 6 are at the cap already, and the shift stays small */
	delay = MIN(1000u << MIN(attempt, 6u), FL_HTTP_BACKOFF_MAX_MS);
	return delay / 2 + (guint)g_random_int_range(0, (gint32)(delay / 2) + 1);
}

static void
fl_http_finalize(GObject *object)
{
	FlHttp *self = FL_HTTP(object);

	/* every transfer's task holds a reference on us: none can be in flight here */
	g_warn_if_fail(g_hash_table_size(self->transfers) == 0);
	self->finalizing = TRUE;
	curl_multi_cleanup(self->multi);
	fl_http_clear_source(&self->timer);
	fl_http_clear_source(&self->deferred);
	g_hash_table_unref(self->socks);
	g_hash_table_unref(self->transfers);
	g_queue_clear(&self->pending_adds);
	g_queue_clear(&self->pending_ends);
	g_main_context_unref(self->context);

	G_OBJECT_CLASS(fl_http_parent_class)->finalize(object);
}

static void
fl_http_class_init(FlHttpClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->finalize = fl_http_finalize;
}

static void
fl_http_init(FlHttp *self)
{
	self->context = g_main_context_ref_thread_default();
	self->socks = g_hash_table_new_full(g_direct_hash, g_direct_equal,
					    (GDestroyNotify)fl_http_sock_free, NULL);
	self->transfers = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_queue_init(&self->pending_adds);
	g_queue_init(&self->pending_ends);
	self->multi = curl_multi_init();
	curl_multi_setopt(self->multi, CURLMOPT_SOCKETFUNCTION, fl_http_socket_cb);
	curl_multi_setopt(self->multi, CURLMOPT_SOCKETDATA, self);
	curl_multi_setopt(self->multi, CURLMOPT_TIMERFUNCTION, fl_http_timer_cb);
	curl_multi_setopt(self->multi, CURLMOPT_TIMERDATA, self);
}

FlHttp *
fl_http_new(void)
{
	return g_object_new(FL_TYPE_HTTP, NULL);
}

/* ------------------------------------------------------------------------------ waiting */

typedef struct {
	GSource *timer;  /* (owned) (nullable) */
	GSource *cancel; /* (owned) (nullable) */
} FlHttpWait;

static void
fl_http_wait_clear(FlHttpWait *wait)
{
	if (wait->timer != NULL)
		g_source_destroy(wait->timer);
	if (wait->cancel != NULL)
		g_source_destroy(wait->cancel);
	g_clear_pointer(&wait->timer, g_source_unref);
	g_clear_pointer(&wait->cancel, g_source_unref);
}

static void
fl_http_wait_free(FlHttpWait *wait)
{
	fl_http_wait_clear(wait);
	g_free(wait);
}

/* whichever source fires first ends the wait and drops the reference it held */
static void
fl_http_wait_end(GTask *task)
{
	g_autoptr(GError) error = NULL;

	fl_http_wait_clear(g_task_get_task_data(task));
	if (g_cancellable_set_error_if_cancelled(g_task_get_cancellable(task), &error))
		g_task_return_error(task, g_steal_pointer(&error));
	else
		g_task_return_boolean(task, TRUE);
	g_object_unref(task);
}

static gboolean
fl_http_wait_timer_cb(gpointer user_data)
{
	fl_http_wait_end(user_data);
	return G_SOURCE_REMOVE;
}

static gboolean
fl_http_wait_cancel_cb(GCancellable *cancellable, gpointer user_data)
{
	fl_http_wait_end(user_data);
	return G_SOURCE_REMOVE;
}

void
fl_http_wait_async(guint delay_ms, GCancellable *cancellable, GAsyncReadyCallback callback,
		   gpointer user_data)
{
	GTask *task = g_task_new(NULL, cancellable, callback, user_data);
	FlHttpWait *wait = g_new0(FlHttpWait, 1);

	g_task_set_source_tag(task, fl_http_wait_async);
	g_task_set_task_data(task, wait, (GDestroyNotify)fl_http_wait_free);
	wait->timer = g_timeout_source_new(delay_ms);
	g_source_set_callback(wait->timer, fl_http_wait_timer_cb, task, NULL);
	g_source_set_static_name(wait->timer, "[flotilla] http retry wait");
	g_source_attach(wait->timer, g_task_get_context(task));
	if (cancellable != NULL) {
		wait->cancel = g_cancellable_source_new(cancellable);
		g_source_set_callback(wait->cancel, G_SOURCE_FUNC(fl_http_wait_cancel_cb), task,
				      NULL);
		g_source_set_static_name(wait->cancel, "[flotilla] http retry wait cancel");
		g_source_attach(wait->cancel, g_task_get_context(task));
	}
}

gboolean
fl_http_wait_finish(GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == fl_http_wait_async, FALSE);
	return g_task_propagate_boolean(G_TASK(result), error);
}
